# tests/vm/common.sh: shared settings and helpers of the vm harness, sourced
# by build-image, run-one and vmtest (not run on its own).
# shellcheck shell=bash

VM_DIR=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
REPO=$(readlink -f "$VM_DIR/../..")
CACHE=${PG_VM_CACHE:-/var/tmp/portguard-vm}
DEFAULT_KERNELS="bullseye bookworm trixie"

log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() { log "$*"; exit "${DIE_RC:-1}"; }

# Host tools: installed with apt-get when missing (the harness's own setup).
need_host_tools() {
	local need=() t p
	for t in debootstrap:debootstrap qemu-system-x86_64:qemu-system-x86 qemu-img:qemu-utils \
		mkfs.ext4:e2fsprogs debugfs:e2fsprogs socat:socat setpriv:util-linux; do
		command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
	done
	((${#need[@]})) || return 0
	log "installing on the host: ${need[*]}"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${need[@]}" >/dev/null
	for p in "${need[@]}"; do dpkg-query -W "$p" >/dev/null 2>&1 || die "could not install $p"; done
}

# The host's enabled apt source files that the guest can use: plain http only
# (the guest's only way out is a TCP forward per mirror host).
host_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -s $f ]] || continue
		grep -qE '^[^#]*https://' "$f" && continue
		grep -qE '^[^#]*http://' "$f" && echo "$f"
	done
}

# Mirror hosts named by those files: "host port", one per line.
mirror_hosts() {
	host_sources | xargs -r cat | grep -v '^[[:space:]]*#' |
		grep -oE 'http://[^/ ]+' | sed -E 's,^http://,,; s,^([^:]+)$,\1:80,; s,:, ,' | sort -u
}

# accel_args: qemu's accelerator options. /dev/kvm here may be PVM (kvm_pvm),
# which cannot boot a stock kernel: then software emulation (TCG).
accel_args() {
	local a=${VM_ACCEL:-auto}
	if [[ $a == auto ]]; then
		if [[ -w /dev/kvm && ! -d /sys/module/kvm_pvm ]]; then a=kvm; else a=tcg; fi
	fi
	case $a in
	kvm) echo "-machine q35,accel=kvm -cpu host" ;;
	tcg) echo "-machine q35 -accel tcg,thread=multi,tb-size=1024 -cpu max" ;;
	*) die "VM_ACCEL must be auto, kvm or tcg" ;;
	esac
}
