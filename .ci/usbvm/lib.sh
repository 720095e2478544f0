# Sourced by every check in .ci/usbvm/checks/ (inside the USB VM, as root, in the check's
# own results directory). A check prints what it does, ends with exit 0, or calls
# `fail REASON` (the runner shows REASON and the last lines of output); `note TEXT`
# lines are shown under the check's result line.
set -u
V=$VISREG_BIN
PY=$VISREG_PYTHON
SRC=$USBVM_SRC
D=$USBVM_CHECK_DIR
# This check's own registry of virtual cameras: nothing from another check shows up.
export VISREG_RUNTIME_DIR=$D/runtime
mkdir -p "$VISREG_RUNTIME_DIR"

# ---- knobs of the device side (the `visreg sim --usb` interface; set them in the host's
# environment, .ci/usb-vm passes every USBVM_* variable on) --------------------------------
POWER_LOSS_FAULT=${USBVM_POWER_LOSS_FAULT:-power-loss@50}      # N flash blocks (visreg sim --help)
DESCRIPTOR_FAULT=${USBVM_DESCRIPTOR_FAULT:-descriptor-fail}
# visreg arguments that write BUILD's image for the FIRMWARE partition to FILE
IMAGE_ARGS=${USBVM_IMAGE_ARGS:-firmware image @BUILD@ --out @FILE@}
# what `visreg recover` is given for a bricked camera (ST's ROM DFU); the current build also
# wants `--bootloader FILE` there
BRICKED_RECOVER_ARGS=${USBVM_BRICKED_RECOVER_ARGS:---firmware 5.0.1}
FLASH_BUILDS=${USBVM_FLASH_BUILDS:-5.0.1 5.1.0-rc1 5.1.0-rc2 5.1.0-rc3 5.1.0-rc4 5.0.0}
TIMING_BUILD=${USBVM_TIMING_BUILD:-5.0.1}       # the build whose image is 2 MiB (TBD)
SIM_UP_TIMEOUT=${USBVM_SIM_UP_TIMEOUT:-40}       # seconds until sim --usb prints its line
FIRMWARE_VIDPID=37c5:124a
BOOTLOADER_VIDPID=37c5:924a
ROM_VIDPID=0483:df11

up() { local a b; read -r a b </proc/uptime; echo "$a"; }
up_s() { local a b; read -r a b </proc/uptime; echo "${a%.*}"; }   # whole seconds
since() { awk -v a="$1" -v b="$(up)" 'BEGIN { printf "%.1f", b - a }'; }
step() { echo "[$(up)] $*"; }
note() { echo "NOTE: $*"; }
fail() { echo "REASON: $*"; exit 1; }

# ---- virtual cameras ---------------------------------------------------------------------
SIMS=()
stop_sims() {
  local p i
  for p in "${SIMS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for i in $(seq 50); do
    local alive=0
    for p in "${SIMS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 0.1
  done
  for p in "${SIMS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  SIMS=()
}
trap stop_sims EXIT

# start_sim NAME [ARGS...]: `visreg sim --usb ARGS` in the background; waits for its one
# line (the tty, or `usb BUS-PORT VID:PID SERIAL`). Sets NAME_pid and NAME_line.
start_sim() {
  local n=$1; shift
  "$V" sim --usb "$@" >"$D/$n.out" 2>"$D/$n.err" &
  local pid=$! t0 i
  SIMS+=("$pid")
  printf -v "${n}_pid" %s "$pid"
  t0=$(up)
  for ((i = 0; i < SIM_UP_TIMEOUT * 10; i++)); do
    [ "$(wc -l <"$D/$n.out")" -ge 1 ] && break
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid"; local rc=$?
      sed 's/^/  sim: /' "$D/$n.err" | tail -5
      fail "visreg sim --usb $* exited (rc $rc) before printing its line: $(grep . "$D/$n.err" | head -1)"
    fi
    sleep 0.1
  done
  local line; line=$(head -1 "$D/$n.out")
  if [ -z "$line" ]; then
    tail -5 "$D/$n.err"; dmesg | tail -5
    fail "visreg sim --usb $* printed no line within ${SIM_UP_TIMEOUT}s"
  fi
  printf -v "${n}_line" %s "$line"
  step "sim $n (--usb $*) up in $(since "$t0") s: $line"
}

# parse_usb_line LINE: `usb BUS-PORT VID:PID SERIAL` -> U_BUSPORT U_VIDPID U_SERIAL
parse_usb_line() {
  local w1
  read -r w1 U_BUSPORT U_VIDPID U_SERIAL <<<"$1"
  [ "$w1" = usb ] && [ -n "$U_SERIAL" ] || fail "expected 'usb BUS-PORT VID:PID SERIAL' from sim --usb, got: $1"
  U_VIDPID=${U_VIDPID,,}
}

# ---- the kernel's view (sysfs) ---------------------------------------------------------------
# usb device directory of a tty (/dev/ttyACM0 -> /sys/bus/usb/devices/3-1)
tty_usbdev() {
  local i; i=$(readlink -f "/sys/class/tty/${1#/dev/}/device") || return 1
  [ -n "$i" ] && [ -e "$i" ] || return 1
  dirname "$i"
}
vidpid_of() { local v p; read -r v <"$1/idVendor"; read -r p <"$1/idProduct"; echo "$v:$p"; }
usbdev_by_serial() {   # SERIAL [VID:PID] -> sysfs dir; SERIAL "" = any (builtins only: forks are slow under TCG)
  local d s v p
  for d in /sys/bus/usb/devices/*; do
    [ -f "$d/idVendor" ] || continue
    if [ -n "$1" ]; then [ -f "$d/serial" ] || continue; read -r s <"$d/serial"; [ "$s" = "$1" ] || continue; fi
    if [ -n "${2:-}" ]; then read -r v <"$d/idVendor"; read -r p <"$d/idProduct"; [ "$v:$p" = "$2" ] || continue; fi
    echo "$d"; return 0
  done
  return 1
}
# wait_usb SERIAL VID:PID SECONDS: until the kernel has that device (sets W_DEV; SERIAL "" = any)
wait_usb() {
  local end=$(($(up_s) + $3))
  while [ "$(up_s)" -lt $end ]; do W_DEV=$(usbdev_by_serial "$1" "$2") && return 0; sleep 0.2; done
  return 1
}
# acm_tty_of USBDEV -> /dev/ttyACMn bound by cdc_acm on one of its interfaces
acm_tty_of() {
  local t
  for t in "$1"/*/tty/ttyACM*; do [ -e "$t" ] && { echo "/dev/$(basename "$t")"; return 0; }; done
  return 1
}
usb_list() {
  local d
  for d in /sys/bus/usb/devices/[0-9]*; do
    [ -f "$d/idVendor" ] && echo "  $(basename "$d") $(vidpid_of "$d") speed=$(cat "$d/speed") serial=$(cat "$d/serial" 2>/dev/null) $(cat "$d/product" 2>/dev/null)"
  done
}

# ---- visreg devices --json, normalised: one object per camera with vid, pid (lower-case hex),
# serial, port, state, firmware, kind. Takes both the current and the older field layouts.
JQ_NORM='
  def hex4: if type == "number" then [(. / 4096 | floor) % 16, (. / 256 | floor) % 16, (. / 16 | floor) % 16, . % 16]
            | map("0123456789abcdef"[.:.+1]) | add else tostring | ascii_downcase | ltrimstr("0x") end;
  [.devices // . | .[] | {
    vid: ((.vid // ((.vid_pid // "") | split(":")[0])) | hex4),
    pid: ((.pid // ((.vid_pid // "") | split(":")[1] // "")) | hex4),
    serial: (.serial // .identity.serial // ""),
    port: (.port // .identity.port // ""),
    state: ((.identity.state // .state // "") | tostring),
    firmware: ((.identity.firmware // .identity.version // .firmware // .version // "") | tostring),
    kind: (.kind // "")
  }]'
# devices_json FILE: runs `visreg devices --json`, writes the normalised list to FILE
devices_json() {
  "$V" devices --json >"$1.raw" 2>"$1.err"
  local rc=$?
  jq "$JQ_NORM" "$1.raw" >"$1" 2>>"$1.err" || { cat "$1.raw" "$1.err" | tail -20; fail "visreg devices --json (rc $rc) printed no JSON it understood"; }
  return 0
}
# usb_cam FILE SERIAL: the USB entry (one with a VID) with that serial, or nothing
usb_cam() { jq -c --arg s "$2" '[.[] | select(.serial == $s and .vid != "")][0] // empty' "$1"; }
field() { jq -r ".$2" <<<"$1"; }
# version a build reports (5.1.0-rc2 -> 5.1.0), from the catalog
build_version() {
  "$V" firmware list 2>/dev/null | awk -F'│|┆' -v b="$1" '{ gsub(/ /, "", $2); gsub(/ /, "", $3) } $2 == b { print $3; exit }'
}
# wait_firmware SERIAL BUILD SECONDS: until `visreg devices --json` shows that camera
# running BUILD (its version or its name). SERIAL "" = any USB camera (the firmware's USB
# serial differs from the bootloader's, as on real cameras). Sets W_CAM.
wait_firmware() {
  local ver fw end; ver=$(build_version "$2"); ver=${ver:-$2}
  end=$(($(up_s) + $3))
  while :; do
    devices_json "$D/devices-wait.json"
    if [ -n "$1" ]; then W_CAM=$(usb_cam "$D/devices-wait.json" "$1")
    else W_CAM=$(jq -c --arg v "${FIRMWARE_VIDPID%:*}" --arg p "${FIRMWARE_VIDPID#*:}" '[.[] | select(.vid == $v and .pid == $p)][0] // empty' "$D/devices-wait.json"); fi
    if [ -n "$W_CAM" ]; then
      fw=$(field "$W_CAM" firmware)
      { [ "$fw" = "$ver" ] || [ "$fw" = "$2" ]; } && return 0
    fi
    [ "$(up_s)" -lt $end ] || break
    sleep 1
  done
  echo "last devices --json entry for ${1:-any $FIRMWARE_VIDPID}: ${W_CAM:-none}"
  return 1
}
# image_of BUILD FILE: the build's FIRMWARE image
image_of() {
  local a=${IMAGE_ARGS//@BUILD@/$1}; a=${a//@FILE@/$2}
  # shellcheck disable=SC2086
  "$V" $a >"$D/image.log" 2>&1 && [ -s "$2" ] || { tail -3 "$D/image.log"; fail "could not write the image of $1 with: visreg $a"; }
}
# timed VAR CMD...: runs CMD, sets VAR to its wall time in seconds, returns its status
timed() {
  local __v=$1; shift
  local t0; t0=$(up)
  "$@"; local rc=$?
  printf -v "$__v" %s "$(since "$t0")"
  return $rc
}
# dfu_alts SERIAL: `dfu-util -l` lines of that device
dfu_list() { dfu-util -l 2>&1 | tr -d '\r' | grep -a "Found DFU: \[$BOOTLOADER_VIDPID\]" | grep -a "serial=\"$1\"" ; }
# dfu_alt_of LIST NAME: alt number of the partition NAME (DfuSe-style "@NAME..." accepted)
dfu_alt_of() { sed -n "s/.*alt=\([0-9]*\), name=\"@\{0,1\}$2[\"/ ].*/\1/p" <<<"$1" | head -1; }
