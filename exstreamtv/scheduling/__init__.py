"""Scheduling: the scheduler contract, playout helpers and the guide."""
