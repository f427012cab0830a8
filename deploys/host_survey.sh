# Survey for deploys.host_facts.HostSurvey: one `key=value` per line. POSIX sh.
echo "arch=$(dpkg --print-architecture 2>/dev/null || uname -m)"
if [ -r /etc/os-release ]; then . /etc/os-release; fi
echo "os_id=${ID:-}"; echo "os_version=${VERSION_ID:-}"; echo "os_codename=${VERSION_CODENAME:-}"
if grep -qw aes /proc/cpuinfo; then echo aes_ni=1; else echo aes_ni=0; fi
awk '/^MemTotal:/ {print "mem_total_kib=" $2}' /proc/meminfo
if ls -d /sys/devices/system/edac/mc/mc[0-9]* >/dev/null 2>&1; then echo edac=1; else echo edac=0; fi
for h in /sys/class/scsi_host/host*; do
  [ -r "$h/proc_name" ] && echo "storage_driver=$(cat "$h/proc_name")"; done
for d in $STORAGE_DRIVERS; do ls -d /sys/bus/pci/drivers/$d/0000:* >/dev/null 2>&1 && echo "storage_driver=$d"; done
lsblk -d -n -r -o NAME,TYPE,VENDOR,MODEL 2>/dev/null |
  while read -r n t rest; do [ "$t" = disk ] && echo "disk_model=$n $rest"; done
for n in /sys/class/net/*; do
  [ -e "$n/device" ] || continue
  [ "$(cat "$n/operstate" 2>/dev/null)" = up ] || continue
  echo "nic=$(basename "$n") $(cat "$n/speed" 2>/dev/null || echo -1)"
done
k=$(uname -r); echo "kernel=$k"
if [ -d /sys/module/zfs ]; then echo zfs_loaded=1; else echo zfs_loaded=0; fi
echo "zfs_modinfo=$(modinfo -F version zfs 2>/dev/null | head -n1)"
if [ -e "/lib/modules/$k/build" ]; then echo headers=1; else echo headers=0; fi
if apt-cache show "linux-headers-$k" >/dev/null 2>&1; then echo headers_available=1; else echo headers_available=0; fi
echo "dkms=$(dkms status zfs 2>/dev/null | tr '\n' ';')"
