"""State in one place: the database follows ANJU_VAR_DIR and refuses a root key its data was not sealed with."""

from __future__ import annotations

import pytest

from backend.settings import from_env
from tests.conftest import anju

KEY = "the-original-root-key-" + "k" * 16


@pytest.fixture(scope="module")
def sealed(tmp_path_factory) -> dict[str, str]:
    """A demo database seeded (so sealed) under KEY, in its own var dir; that env without the key."""
    var = tmp_path_factory.mktemp("var")
    env = {"ANJU_VAR_DIR": str(var), "ANJU_DATABASE_URL": "", "ANJU_SECRET_KEY": "", "ANJU_DEMO": "true"}
    for command in ("migrate", "seed"):
        done = anju(command, env=env | {"ANJU_SECRET_KEY": KEY})
        assert done.returncode == 0, done.stdout + done.stderr
    return env


def test_the_default_database_lives_in_the_var_dir(tmp_path):
    assert from_env({"ANJU_VAR_DIR": str(tmp_path)}).database_url == f"sqlite:///{tmp_path}/anju.sqlite"
    assert from_env({}).database_url == "sqlite:///var/anju.sqlite"


def test_a_new_database_migrates_in_one_line(sealed):
    again = anju("migrate", env=sealed)
    assert again.returncode == 0 and again.stdout.strip().startswith("database up to date (")


@pytest.mark.parametrize("command", ["seed", "serve", "audit", "bridge"])
def test_a_lost_key_file_stops_every_command_that_reads_sealed_data(sealed, command):
    # The operator deleted secret.key (or the var dir but not the database): a new key would be made.
    done = anju(command, env=sealed)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert "is not the key this database's data was sealed with" in done.stderr
    assert "ANJU_SECRET_KEY" in done.stderr and "ANJU_VAR_DIR" in done.stderr


def test_another_secret_key_is_refused_and_the_original_still_served(sealed):
    refused = anju("audit", env=sealed | {"ANJU_SECRET_KEY": "someone-elses-key-" + "x" * 20})
    assert refused.returncode != 0 and "ANJU_SECRET_KEY is not the key" in refused.stderr
    accepted = anju("audit", env=sealed | {"ANJU_SECRET_KEY": KEY})
    assert accepted.returncode == 0, accepted.stderr
