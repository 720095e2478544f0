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
up() { cut -d' ' -f1 /proc/uptime; }
echo "[usbvm] checks start at $(up)s"

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
  f=$(ls "$HERE/checks/$w.sh" "$HERE/checks/$w"-*.sh 2>/dev/null | head -1)
  [ -n "$f" ] && list+=("$f") || list+=("missing:$w")
done

# This kernel's USB facts, for whoever writes the device side.
{
  echo "kernel $(uname -r)"
  V=/sys/devices/platform/vhci_hcd.0
  echo "vhci_hcd.0: $(ls $V 2>&1 | tr '\n' ' ')"
  [ -e $V/attach ] && echo "attach: $(ls -l $V/attach)"
  echo "nports: $(cat $V/nports 2>/dev/null)"
  echo "status (hub port sta spd dev sockfd local_busid):"; cat $V/status* 2>/dev/null
  echo "buses:"; for b in /sys/bus/usb/devices/usb*; do echo "  $(basename $b) $(cat $b/product) speed=$(cat $b/speed) maxchild=$(cat $b/maxchild)"; done
  echo "drivers: $(ls /sys/bus/usb/drivers | tr '\n' ' ')"
  echo "modules: $(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
} >"$RES/facts.txt" 2>&1

# Leaves the bus empty for the next check: detaches whatever a check left on vhci_hcd.
vhci_clean() {
  local st port
  for st in /sys/devices/platform/vhci_hcd.0/status*; do
    [ -f "$st" ] || continue
    awk 'NR > 1 && $3 != "004" { print $2 + 0 }' "$st" | while read -r port; do
      echo "$port" >/sys/devices/platform/vhci_hcd.0/detach 2>/dev/null
    done
  done
}

pass=0; fail=0
: >"$RES/checks.txt"
out() { echo "$*"; echo "$*" >>"$RES/checks.txt"; }
for f in "${list[@]}"; do
  name=$(basename "${f#missing:}" .sh)
  if [ "${f#missing:}" != "$f" ]; then
    out "FAIL $name (0.0 s): no such check in $HERE/checks"; fail=$((fail + 1)); continue
  fi
  to=$(sed -n 's/^# timeout: *\([0-9]*\).*/\1/p' "$f" | head -1)
  to=${to:-60}
  D=$RES/$name; rm -rf "$D"; mkdir -p "$D"
  dm0=$(dmesg | wc -l)
  t0=$(up)
  echo "[usbvm] $t0 s: $name (timeout ${to}s)"
  (cd "$D" && USBVM_CHECK=$name USBVM_CHECK_DIR=$D timeout -k 5 "$to" bash "$f") >"$D/log" 2>&1 </dev/null
  rc=$?
  t1=$(up)
  dmesg | tail -n +$((dm0 + 1)) >"$D/dmesg"
  vhci_clean
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
