"""``seva chaos``: seeded fault-injection scenarios against a real hub (see README, *Chaos suite*).

``workload`` drives a mixed client load and says afterwards which acknowledged operations are
missing; ``schedule`` turns a seed into the faults to inject and when; ``registry`` names the
scenarios; ``report`` is the one JSON line each prints.
"""
