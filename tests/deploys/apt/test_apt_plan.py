"""Apt: deb822 sources per release and subscription, packages, and the pinned keyring logic."""

from __future__ import annotations

import hashlib
import subprocess

import pytest

from deploys import schema
from deploys.apt import steps as apt_step
from deploys.apt.operations import fetch_command, update_command
from deploys.node import pbs_node
from lab.deploy_data import KEYRING, keyring_server
from tests.deploys import fakehost


def data(**changes):
    schema.load_all()
    return {**{k: schema.REGISTRY[k].default for k in apt_step.KEYS}, **changes}


def test_no_subscription_bookworm():
    files = apt_step.sources("bookworm", "/etc/apt/keyrings/k.gpg", data())
    nosub = files["pbs-no-subscription.sources"]
    assert "URIs: http://download.proxmox.com/debian/pbs\n" in nosub
    assert "Suites: bookworm\n" in nosub and "Components: pbs-no-subscription\n" in nosub
    assert "Signed-By: /etc/apt/keyrings/k.gpg\n" in nosub and "Enabled: yes\n" in nosub
    enterprise = files["pbs-enterprise.sources"]
    assert "Components: pbs-enterprise" in enterprise and "Enabled: no\n" in enterprise


def test_trixie_uses_trixie_suite():
    files = apt_step.sources("trixie", "/k", data())
    assert all("Suites: trixie\n" in c for c in files.values())
    assert "packages for Debian trixie" in files["pbs-no-subscription.sources"]


def test_enterprise_with_subscription_drops_no_subscription():
    files = apt_step.sources("bookworm", "/k", data(pbs_repository="enterprise",
                                                        pbs_has_subscription=True))
    assert set(files) == {"pbs-enterprise.sources"}
    assert "Enabled: yes" in files["pbs-enterprise.sources"]


def test_enterprise_without_subscription_stays_disabled():
    files = apt_step.sources("bookworm", "/k", data(pbs_repository="enterprise"))
    assert "Enabled: no" in files["pbs-enterprise.sources"]
    assert "Enabled: yes" in files["pbs-no-subscription.sources"]


def test_test_only_switch_disables_every_proxmox_source_and_says_so():
    files = apt_step.sources("bookworm", "/k", data(test_only_proxmox_sources_inactive=True))
    for content in files.values():
        assert "Enabled: no\n" in content and "TEST-ONLY" in content


def test_package_list_and_test_only_skip():
    full = apt_step.package_list(data())
    for pkg in ("proxmox-backup-server", "zfsutils-linux", "nftables", "smartmontools",
                "prometheus-node-exporter", "zfs-dkms", "python3-zstandard"):
        assert pkg in full
    assert "linux-headers-6.1.0-28-amd64" in apt_step.package_list(data(), "6.1.0-28-amd64")
    skipped = apt_step.package_list(data(test_only_skip_packages=["proxmox-backup-server"],
                                         zfs_module="present"))
    assert "proxmox-backup-server" not in skipped and "zfs-dkms" not in skipped


def test_trixie_keyring_is_pinned_by_the_published_sha256():
    """PBS 4's docs/package-repositories.rst (4.2.3) publishes the trixie keyring's SHA-256
    (136673be…), no SHA-512: the deploy pins that SHA-256 and a trixie host plans."""
    assert apt_step.KEYRINGS["trixie"][1] == (
        "sha256:136673be77aba35dcce385b28737689ad64fd785a797e57897589aed08db6e45")
    run = fakehost.run(pbs_node, fakehost.host_data(
        survey=fakehost.survey_output(os_version="13", os_codename="trixie")))
    assert run.error is None, run.error
    assert any("Proxmox release keyring (pinned checksum)" in n for n in run.op_names())


def test_converged_host_plans_no_apt_change():
    sha = apt_step.KEYRINGS["bookworm"][1]
    wanted = apt_step.package_list(data(), fakehost.GOOD_SURVEY["kernel"])
    installed = "\n".join(f"ii  {p}  1.0  amd64  x" for p in wanted)
    responses = {"sha512sum /etc/apt/keyrings/proxmox-release-bookworm.gpg":
                 f"{sha}  /etc/apt/keyrings/proxmox-release-bookworm.gpg",
                 "dpkg -l": installed}
    run = fakehost.run(pbs_node, fakehost.host_data(responses=responses))
    apt_changes = [n for n in run.changing_ops() if n.startswith("Apt |")
                   and "source" not in n and "timeouts" not in n]
    assert apt_changes == [], apt_changes


def _fetch(url, sha, dest):
    return subprocess.run(["sh", "-c", fetch_command(url, sha, dest).get_raw_value()],
                          capture_output=True, text=True, check=False)


def test_keyring_fetch_installs_only_a_matching_file(tmp_path):
    good = hashlib.sha512(KEYRING.read_bytes()).hexdigest()
    dest = tmp_path / "keyrings" / "proxmox.gpg"
    with keyring_server(address="127.0.0.1") as base:
        url = f"{base}/{KEYRING.name}"
        bad = _fetch(url, "0" * 128, str(dest))
        assert bad.returncode == 1 and not dest.exists()
        assert f"keyring checksum mismatch for {url}: expected sha512 {'0' * 128}, got {good}" \
            in bad.stderr
        ok = _fetch(url, good, str(dest))
    assert ok.returncode == 0, ok.stderr
    assert dest.read_bytes() == KEYRING.read_bytes()
    assert not (tmp_path / "keyrings" / "proxmox.gpg.download").exists()


def test_keyring_fetch_checks_a_sha256_pin(tmp_path):
    good = hashlib.sha256(KEYRING.read_bytes()).hexdigest()
    dest = tmp_path / "keyrings" / "trixie.gpg"
    with keyring_server(address="127.0.0.1") as base:
        url = f"{base}/{KEYRING.name}"
        bad = _fetch(url, "sha256:" + "0" * 64, str(dest))
        assert bad.returncode == 1 and not dest.exists()
        assert f"expected sha256 {'0' * 64}, got {good}" in bad.stderr
        ok = _fetch(url, f"sha256:{good}", str(dest))
    assert ok.returncode == 0, ok.stderr
    assert dest.read_bytes() == KEYRING.read_bytes()


@pytest.mark.parametrize("sha", ["abc", "g" * 128])
def test_keyring_checksum_must_be_sha512(sha):
    run = fakehost.run(pbs_node, fakehost.host_data(apt_proxmox_keyring_sha512=sha),
                       execute=True)
    assert run.error is not None and "is not a SHA-512 hex digest" in str(run.error)


def test_apt_update_is_bounded_and_retried(tmp_path):
    """A hanging apt-get is killed and retried; the second attempt succeeds."""
    fake = tmp_path / "apt-get"
    fake.write_text("#!/bin/sh\nn=$(cat \"$0.count\" 2>/dev/null || echo 0)\n"
                    "echo $((n + 1)) > \"$0.count\"\n"
                    "[ \"$n\" -ge 1 ] && exit 0\nexec sleep 30\n")
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin"}
    script = update_command(timeout=1, pause="0")
    proc = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "attempt 1 failed or timed out" in proc.stderr
    assert (tmp_path / "apt-get.count").read_text().strip() == "2"


def test_apt_update_gives_up_after_its_attempts(tmp_path):
    fake = tmp_path / "apt-get"
    fake.write_text("#!/bin/sh\nexit 100\n")
    fake.chmod(0o755)
    script = update_command(timeout=5, pause="0")
    proc = subprocess.run(["sh", "-c", script],
                          env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 1 and proc.stderr.count("failed or timed out") == 3
