from piccolo.conf.apps import AppRegistry

from backend.db import engine_for
from backend.settings import get_settings

DB = engine_for(get_settings().database_url)
APP_REGISTRY = AppRegistry(apps=["backend.piccolo_app"])
