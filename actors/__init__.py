"""Serialized domain state: per-tenant logical actors on a bounded pool of Ray actors."""
