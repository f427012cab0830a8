"""Inventory validation, desired objects and the current-vs-desired comparison."""

from __future__ import annotations

import pytest

from deploys.pbs import desired, plan, settings
from deploys.pbs.desired import Acl, HostView


def test_property_strings_compare_by_content() -> None:
    current = {"tuning": "sync-level=file,chunk-order=none", "maintenance-mode": "offline",
               "verify-new": True, "gc-schedule": "daily", "keep-daily": 3}
    wanted = {"tuning": {"chunk-order": "none", "sync-level": "file"},
              "maintenance-mode": {"type": "offline"}, "verify-new": True,
              "gc-schedule": "daily"}
    sets, deletes = plan.diff_options(current, wanted, desired.DATASTORE_MANAGED)
    assert sets == {} and deletes == ["keep-daily"]


def test_changed_values_are_set_and_bools_normalised() -> None:
    sets, deletes = plan.diff_options({"keep-daily": 7, "disable": "1"},
                                      {"keep-daily": 8, "disable": True}, ("keep-daily",))
    assert sets == {"keep-daily": 8} and deletes == []


def test_acl_changes_touch_only_managed_ids() -> None:
    current = [{"path": "/datastore/s1", "ugid": "a@pbs", "roleid": "DatastoreAdmin",
                "propagate": True, "ugid_type": "user"},
               {"path": "/", "ugid": "admin@pbs", "roleid": "Admin", "propagate": True},
               {"path": "/datastore/s1", "ugid": "a@pbs", "roleid": "DatastoreBackup",
                "propagate": True}]
    want = {Acl("/datastore/s1", "a@pbs", "DatastoreBackup"),
            Acl("/datastore/s1", "a@pbs!t", "DatastoreBackup")}
    add, remove = plan.acl_changes(current, want, {"a@pbs", "a@pbs!t"})
    assert add == [Acl("/datastore/s1", "a@pbs!t", "DatastoreBackup")]
    assert remove == [Acl("/datastore/s1", "a@pbs", "DatastoreAdmin")]


def test_default_retention_and_verify_jobs() -> None:
    fleet = [HostView("pbs1", ("pbs",), {"pbs_datastores": {"store1": {}}})]
    objs = desired.pbs_objects(fleet, "pbs1", lambda name: "x")
    assert objs.prune_jobs == {"store1-prune": {"store": "store1", "schedule": "daily",
                                                "keep-daily": 7, "keep-weekly": 4}}
    assert objs.verify_jobs["store1-verify"]["outdated-after"] == 30
    assert objs.datastores["store1"].path == "/mnt/datastore/store1"


def test_datastore_admin_only_where_the_inventory_says() -> None:
    fleet = [HostView("pbs1", ("pbs",), {
        "pbs_datastores": {"store1": {}},
        "pbs_users": {"ops@pbs": {"roles": [{"path": "/datastore/store1",
                                              "role": "DatastoreAdmin"}],
                                  "tokens": {"ci": {}}}}})]
    objs = desired.pbs_objects(fleet, "pbs1", lambda name: "x")
    admin = {a for a in objs.acls if a.role == "DatastoreAdmin"}
    assert admin == {Acl("/datastore/store1", "ops@pbs", "DatastoreAdmin"),
                     Acl("/datastore/store1", "ops@pbs!ci", "DatastoreAdmin")}
    assert {a.role for a in objs.acls} == {"DatastoreAdmin", "DatastoreAudit", "Audit"}


def test_remove_vanished_needs_prune_rights_for_the_owner() -> None:
    fleet = [HostView("pbs1", ("pbs",), {"pbs_datastores": {"store1": {}}}),
             HostView("pbs2", ("pbs_offsite",), {
                 "pbs_datastores": {"off": {}},
                 "pbs_sync_jobs": [{"remote": "pbs1", "remote_store": "store1", "store": "off",
                                    "remove_vanished": True, "ns": "a"}]})]
    objs = desired.pbs_objects(fleet, "pbs2", lambda name: "fp-" + name)
    assert Acl("/datastore/off/a", "sync@pbs", "DatastorePowerUser") in objs.acls
    assert objs.remotes["pbs1"].options["fingerprint"] == "fp-pbs1"
    assert ("off", "a") in objs.namespaces


@pytest.mark.parametrize(("key", "value", "message"), [
    ("pbs_datastores", {"s1": {}}, "name 's1' must be 3-32 characters"),
    ("pbs_datastores", {"store1": {"gc_schedul": "daily"}}, "unknown setting 'gc_schedul'"),
    ("pbs_datastores", {"store1": {"prune": {"keep_daily": "7"}}},
     "setting 'keep_daily' expected int, got str"),
    ("pbs_datastores", {"store1": {"namespaces": ["a b"]}}, "namespace 'a b'"),
    ("pbs_sync_jobs", [{"remote": "pbs1"}], "setting 'remote_store' is required"),
    ("pbs_users", {"ops": {}}, "user ids look like name@pbs"),
    ("pbs_users", {"ops@pbs": {"roles": [{"path": "/", "role": "God"}]}}, "unknown role 'God'"),
    ("pve_pbs_storages", [{"pbs": "pbs1"}], "setting 'datastore' is required"),
])
def test_inventory_problems_name_the_key(key: str, value: object, message: str) -> None:
    problem = settings.KEYS[key].check(value)
    assert problem is not None and message in problem, problem
    assert "\n" not in problem
