// Helpers of the loader and drain kernel tests: hand-crafted frames (Ethernet + IPv4/IPv6 +
// UDP or ICMPv6), BPF_PROG_TEST_RUN with a context, and a pin-directory guard.

#ifndef TCFLOW_TESTS_DRAIN_TEST_UTIL_H_
#define TCFLOW_TESTS_DRAIN_TEST_UTIL_H_

#include <errno.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <bpf/bpf.h>

#include "absl/strings/str_cat.h"
#include "daemon/loader/tables.h"

namespace tcflow::testing {

inline void Put16(std::vector<uint8_t>& f, size_t off, uint16_t v) {
  f[off] = v >> 8;
  f[off + 1] = v & 0xff;
}

// Ethernet + IPv4 + UDP, 10.0.(id>>8).(id&255):sport -> 10.1.0.1:53, `payload` bytes.
inline std::vector<uint8_t> Udp4Frame(uint32_t id, uint16_t sport, size_t payload) {
  std::vector<uint8_t> f(14 + 20 + 8 + payload, 0);
  f[6] = 0x02;  // source MAC, locally administered
  Put16(f, 12, 0x0800);
  uint8_t* ip = &f[14];
  ip[0] = 0x45;
  Put16(f, 16, static_cast<uint16_t>(20 + 8 + payload));
  ip[8] = 64;  // TTL
  ip[9] = 17;  // UDP
  ip[12] = 10;
  ip[13] = 0;
  ip[14] = static_cast<uint8_t>(id >> 8);
  ip[15] = static_cast<uint8_t>(id);
  ip[16] = 10;
  ip[17] = 1;
  ip[19] = 1;
  Put16(f, 34, sport);
  Put16(f, 36, 53);
  Put16(f, 38, static_cast<uint16_t>(8 + payload));
  return f;
}

// Ethernet + IPv6 + UDP, 2001:db8::(id) -> 2001:db8:1::1, `payload` bytes.
inline std::vector<uint8_t> Udp6Frame(uint32_t id, uint16_t sport, size_t payload) {
  std::vector<uint8_t> f(14 + 40 + 8 + payload, 0);
  f[6] = 0x02;
  Put16(f, 12, 0x86dd);
  uint8_t* ip = &f[14];
  ip[0] = 0x60;
  Put16(f, 18, static_cast<uint16_t>(8 + payload));
  ip[6] = 17;
  ip[7] = 64;
  ip[8] = 0x20;
  ip[9] = 0x01;
  ip[10] = 0x0d;
  ip[11] = 0xb8;
  ip[20] = static_cast<uint8_t>(id >> 24);
  ip[21] = static_cast<uint8_t>(id >> 16);
  ip[22] = static_cast<uint8_t>(id >> 8);
  ip[23] = static_cast<uint8_t>(id);
  ip[24] = 0x20;
  ip[25] = 0x01;
  ip[26] = 0x0d;
  ip[27] = 0xb8;
  ip[29] = 1;
  ip[39] = 1;
  Put16(f, 54, sport);
  Put16(f, 56, 53);
  Put16(f, 58, static_cast<uint16_t>(8 + payload));
  return f;
}

// Ethernet + IPv6 + ICMPv6 neighbour solicitation for 2001:db8::99 from fe80::1.
inline std::vector<uint8_t> NeighborSolicitation() {
  std::vector<uint8_t> f(14 + 40 + 24, 0);
  Put16(f, 12, 0x86dd);
  uint8_t* ip = &f[14];
  ip[0] = 0x60;
  Put16(f, 18, 24);
  ip[6] = 58;
  ip[7] = 255;
  ip[8] = 0xfe;
  ip[9] = 0x80;
  ip[23] = 1;
  ip[24] = 0xff;  // solicited-node multicast ff02::1:ff00:99
  ip[25] = 0x02;
  ip[35] = 1;
  ip[36] = 0xff;
  ip[39] = 0x99;
  uint8_t* icmp = &f[54];
  icmp[0] = 135;
  uint8_t target[16] = {0x20, 0x01, 0x0d, 0xb8};
  target[15] = 0x99;
  std::memcpy(icmp + 8, target, 16);
  return f;
}

// Runs `prog_fd` on `frame` `repeat` times; returns the program's verdict or -errno.
// `out` receives the frame as the program left it.
inline int TestRun(int prog_fd, const std::vector<uint8_t>& frame, uint32_t repeat,
                   std::vector<uint8_t>* out = nullptr, uint32_t mark = 0,
                   uint32_t ifindex = 0) {
  std::vector<uint8_t> buf(frame.size() + 64);
  __sk_buff ctx;
  std::memset(&ctx, 0, sizeof(ctx));
  ctx.mark = mark;
  ctx.ifindex = ifindex;
  bpf_test_run_opts opts;
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.data_out = buf.data();
  opts.data_size_out = static_cast<uint32_t>(buf.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.repeat = repeat;
  if (bpf_prog_test_run_opts(prog_fd, &opts) != 0) return -errno;
  if (out != nullptr) out->assign(buf.begin(), buf.begin() + opts.data_size_out);
  return static_cast<int>(opts.retval);
}

// Removes every tcflow pin under a directory (and the directory) when the test ends,
// passed or failed.
class PinDirGuard {
 public:
  explicit PinDirGuard(std::string dir) : dir_(std::move(dir)) {}
  ~PinDirGuard() {
    for (int i = 0; i < kTableCount; ++i) ::unlink(PinPath(dir_, static_cast<TableId>(i)).c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

inline std::string UniquePinDir(const char* what) {
  return absl::StrCat("/sys/fs/bpf/tcflow_", what, "_", ::getpid());
}

}  // namespace tcflow::testing

#endif  // TCFLOW_TESTS_DRAIN_TEST_UTIL_H_
