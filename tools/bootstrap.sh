#!/usr/bin/env bash
# Installs everything tcflow's build, tests and benchmarks need on Debian 12, and mounts bpffs.
# Idempotent: when every package is present it touches no network and takes a second.
set -euo pipefail

if [[ $(id -u) -ne 0 ]]; then
  echo "bootstrap: must run as root (it installs Debian packages, mounts bpffs, and the" \
       "tests create network namespaces and load BPF programs)" >&2
  exit 1
fi
if ! grep -qs 'bookworm\|^12' /etc/debian_version /etc/os-release; then
  echo "bootstrap: warning: written for Debian 12 (bookworm); this is $(. /etc/os-release; echo "$PRETTY_NAME")" >&2
fi

# Build: Bazel, the host and arm64 compilers, clang/LLVM/bpftool for the BPF object, and
# Debian's libraries for both architectures (static archives included).
AMD64_PACKAGES=(
  bazel-bootstrap clang llvm bpftool protobuf-compiler file
  gcc-aarch64-linux-gnu g++-aarch64-linux-gnu libc6-dev-arm64-cross binutils-aarch64-linux-gnu
  qemu-user-static
  libbpf-dev libabsl-dev libprotobuf-dev libnl-3-dev libnl-route-3-dev libelf-dev zlib1g-dev
  libgtest-dev libgmock-dev libmicrohttpd-dev

  # procps: sysctl (tools/demo.sh); not in a minimal Debian (debootstrap minbase, containers).
  iproute2 iputils-ping procps ethtool iperf3 netsniff-ng socat
  tshark nfdump pmacct libfixbuf-tools

  # Deployment-file tests: promtool and a real Prometheus server, the systemd unit's
  # verifier, YAML for the Kubernetes manifest, capsh for the unit's capability set.
  prometheus systemd python3 python3-yaml libcap2-bin
)
ARM64_PACKAGES=(
  libbpf-dev:arm64 libabsl-dev:arm64 libprotobuf-dev:arm64 libnl-3-dev:arm64
  libnl-route-3-dev:arm64 libelf-dev:arm64 zlib1g-dev:arm64 libgtest-dev:arm64
  libgmock-dev:arm64 libmicrohttpd-dev:arm64
)

missing=()
for pkg in "${AMD64_PACKAGES[@]}" "${ARM64_PACKAGES[@]}"; do
  [[ $pkg == \#* ]] && continue
  want=amd64
  [[ $pkg == *:arm64 ]] && want=arm64
  # Multi-arch packages list one line per installed architecture.
  if ! dpkg-query -W -f='${db:Status-Status} ${Architecture}\n' "${pkg%%:*}" 2>/dev/null |
      grep -qE "^installed ($want|all)\$"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "bootstrap: installing ${#missing[@]} Debian packages: ${missing[*]}"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
  fi
  export DEBIAN_FRONTEND=noninteractive
  # tshark asks whether non-root users may capture; the answer does not matter here.
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "bootstrap: all Debian packages present"
fi

# bpffs: where tcflow pins its maps.
if ! mountpoint -q /sys/fs/bpf; then
  mount -t bpf bpffs /sys/fs/bpf
  echo "bootstrap: mounted bpffs on /sys/fs/bpf"
fi
