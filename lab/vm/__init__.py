"""Harness of the real-kernel tier: cached image, QEMU guest, SSH.

Example::

    paths = Paths.from_env()
    image = ensure_image(paths)           # builds once per recipe (~10 min), then reused
    vm = Machine(image, paths.state / "run", disks=disk_serials(4))
    vm.prepare(); vm.start()              # ~40-60 s to SSH under TCG
    with vm.shell() as sh:
        sh.check("modprobe zfs")
    vm.stop()                             # nothing left: no QEMU, no forwarded port
"""

from lab.vm.config import Paths, VmError, VmUnavailable, require_vm_tools
from lab.vm.image import Image, ensure_image
from lab.vm.machine import DISK_SERIALS, Machine, disk_serials, remove_stale_runs
from lab.vm.ssh import Result, Shell

__all__ = ["DISK_SERIALS", "Image", "Machine", "Paths", "Result", "Shell", "VmError",
           "VmUnavailable", "disk_serials", "ensure_image", "remove_stale_runs",
           "require_vm_tools"]
