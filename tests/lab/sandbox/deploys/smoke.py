"""Tiny deploy for the harness's own tests: a file, a line, a systemd unit running.

Converges: a second run changes nothing (daemon-reload only when the unit file changed).
"""

from pathlib import Path

from pyinfra.operations import files, systemd

HERE = Path(__file__).parent

files.put(name="Put the harness marker", src=str(HERE / "marker.txt"),
          dest="/etc/pf-harness-marker", mode="0644")
files.line(name="Marker setting", path="/etc/pf-harness.conf", line="answer=42")
unit = files.put(name="Listener unit", src=str(HERE / "pf-listen.service"),
                 dest="/etc/systemd/system/pf-listen.service", mode="0644")
systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
systemd.service(name="Listener running", service="pf-listen.service", running=True,
                enabled=True)
