"""MQTT device bridge: the signed contract, bridge workers, the embedded broker, the simulator, vendor adapters."""
