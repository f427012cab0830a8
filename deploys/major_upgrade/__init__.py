"""The PBS 3 → 4 (Debian 12 → 13) upgrade of one host: ``deploys/upgrade.py``.

``facts.py`` surveys the host in one round trip, ``plan.py`` turns the survey into refusals
(pure), ``operations.py`` switches the apt sources all-or-nothing and checks the host after
the reboot, ``steps.py`` is the ``@deploy``.
"""
