#!/bin/bash
# Inside the USB VM (guest kernel, host userland read-only, work dir read-write): records
# the USB facts of this kernel, runs the named checks of .ci/usbvm/checks/ each under its
# own `timeout`, prints `ok   NAME (x.x s)` / `FAIL NAME (x.x s): reason` and finally
# `N passed, M failed`. Everything also goes to $USBVM_WORK/results/.
set -u
WORK=$(sed -n 's/.*usbvm\.work=\([^ ]*\).*/\1/p' /proc/cmdline)
. "$WORK/guest.env"
HERE=$USBVM_SRC/.ci/usbvm
RES=$USBVM_WORK/results
mkdir -p "$RES"
up() { local a b; read -r a b </proc/uptime; echo "$a"; }   # no exec: forks are slow under TCG
echo "[usbvm] checks start at $(up)s"
# visreg (75 MB, a snapshot the host made in the work dir) runs from the host's view of the
# work dir on the page-cached root share (init.sh bound it at /run/usbvm-host-work): the
# work share itself has no page cache (9p cache=mmap), so every start would read the
# binary over 9p again (5-13 s per `sim --usb` start instead of 1-3 s). The dataset
# cache goes into guest RAM (the sim may write to it).
HW=/run/usbvm-host-work
if [ -x "$HW/bin/visreg" ]; then export VISREG_BIN=$HW/bin/visreg
else mkdir -p /tmp/usbvm-bin && cp "$VISREG_BIN" /tmp/usbvm-bin/visreg && export VISREG_BIN=/tmp/usbvm-bin/visreg; fi
if [ -d "$VISREG_CACHE_DIR" ] && cp -a "${HW}/cache" /tmp/visreg-cache 2>/dev/null || cp -a "$VISREG_CACHE_DIR" /tmp/visreg-cache; then export VISREG_CACHE_DIR=/tmp/visreg-cache; fi
echo "[usbvm] VISREG_BIN=$VISREG_BIN"
echo "[usbvm] visreg ready, dataset cache in RAM at $(up)s"

# Which checks: every checks/X-*.sh by default; VISREG_USBVM_CHECKS names them (or their
# letters: "a g"). standin-* checks (the prototype's Python DFU device) only when named
# or when VISREG_USBVM_STANDIN points at the prototype's usbip_dfu.py.
want=${VISREG_USBVM_CHECKS:-}
if [ -z "$want" ]; then
  want=$(cd "$HERE/checks" && ls [a-z]-*.sh | sed 's/\.sh$//')
  [ -n "${VISREG_USBVM_STANDIN:-}" ] && want="$want $(cd "$HERE/checks" && ls standin-*.sh | sed 's/\.sh$//')"
fi
list=()
for w in $want; do
  found=0
  for f in "$HERE/checks/$w.sh" "$HERE/checks/$w"-*.sh; do [ -f "$f" ] && { list+=("$f"); found=1; }; done
  [ $found = 1 ] || list+=("missing:$w")
done

# This kernel's USB facts, for whoever writes the device side (few processes: each one
# costs 0.1-0.3 s under TCG).
V=/sys/devices/platform/vhci_hcd.0
{
  echo "kernel $(uname -r)"
  echo "== ls $V"; ls -l $V
  echo "== nports"; cat $V/nports
  echo "== status* (hub port sta spd dev sockfd local_busid; sta 004 = free)"; cat $V/status*
  echo "== root hubs (product, speed, maxchild)"; grep -H . /sys/bus/usb/devices/usb*/{product,speed,maxchild}
  echo "== drivers"; ls /sys/bus/usb/drivers
  echo "== modules"; cat /proc/modules
} >"$RES/facts.txt" 2>&1
echo "[usbvm] facts recorded at $(up)s"

# Leaves the bus empty for the next check: detaches whatever a check left on vhci_hcd.
vhci_clean() {
  local port
  for port in $(cat /sys/devices/platform/vhci_hcd.0/status* 2>/dev/null | awk '$1 != "hub" && $3 != "004" { print $2 + 0 }'); do
    echo "  detaching vhci port $port left attached"
    echo "$port" >/sys/devices/platform/vhci_hcd.0/detach
  done
}

pass=0; fail=0
: >"$RES/checks.txt"
for f in "${list[@]}"; do basename "${f#missing:}" .sh; done >"$RES/plan.txt"
out() { echo "$*"; echo "$*" >>"$RES/checks.txt"; }
for f in "${list[@]}"; do
  name=$(basename "${f#missing:}" .sh)
  if [ "${f#missing:}" != "$f" ]; then
    out "FAIL $name (0.0 s): no such check in $HERE/checks"; fail=$((fail + 1)); continue
  fi
  to=$(sed -n 's/^# timeout: *\([0-9]*\).*/\1/p' "$f" | head -1)
  to=${to:-60}
  D=$RES/$name; rm -rf "$D"; mkdir -p "$D"
  t0=$(up)
  echo "[usbvm] $t0 s: $name (timeout ${to}s)"
  (cd "$D" && USBVM_CHECK=$name USBVM_CHECK_DIR=$D timeout -k 5 "$to" bash "$f") >"$D/log" 2>&1 </dev/null
  rc=$?
  t1=$(up)
  dmesg | awk -v t0="$t0" '{ t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t) } t + 0 >= t0 + 0' >"$D/dmesg"
  vhci_clean >>"$D/log"
  dt=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  if [ $rc = 0 ]; then
    out "ok   $name ($dt s)"; pass=$((pass + 1))
    grep '^NOTE: ' "$D/log" | sed 's/^NOTE: //' | while IFS= read -r l; do out "       $l"; done
  else
    reason=$(grep '^REASON: ' "$D/log" | tail -1 | sed 's/^REASON: //')
    [ $rc = 124 ] && reason="timed out after ${to}s${reason:+ ($reason)}"
    out "FAIL $name ($dt s): ${reason:-exit $rc}"
    grep '^NOTE: ' "$D/log" | sed 's/^NOTE: //' | while IFS= read -r l; do out "       $l"; done
    grep -v '^REASON: \|^NOTE: ' "$D/log" | tail -6 | while IFS= read -r l; do out "     | $l"; done
    fail=$((fail + 1))
  fi
done
dmesg >"$RES/dmesg.txt"
[ $((pass + fail)) = 0 ] && { out "FAIL no-checks (0.0 s): no check selected"; fail=1; }
out "$pass passed, $fail failed"
sync
