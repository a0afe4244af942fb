"""MQTT device bridge (aiomqtt): device payloads ⇄ domain events and commands. Arrives with the access-control issue."""
