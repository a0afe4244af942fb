"""Reaching people: the live stream of a community's events and web push, fed by one outbox."""
