// The build's BPF path end to end: the object compiled by clang inside the build, embedded
// by `bpftool gen skeleton`, opened from memory and accepted by this kernel's verifier.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include <bpf/bpf.h>

#include "bpf/empty.skel.h"
#include "gtest/gtest.h"

namespace {

TEST(BpfLoadTest, EmbeddedEmptyProgramPassesVerifierAndReturnsUnspec) {
  empty* skel = empty__open_and_load();
  ASSERT_NE(skel, nullptr) << "the verifier rejected the embedded object (errno "
                           << errno << ")";
  int prog_fd = bpf_program__fd(skel->progs.tcflow_empty);
  ASSERT_GE(prog_fd, 0);

  // A minimal Ethernet + IPv4 frame through BPF_PROG_TEST_RUN.
  std::vector<uint8_t> frame(64, 0);
  frame[12] = 0x08;
  frame[13] = 0x00;
  frame[14] = 0x45;
  std::vector<uint8_t> out(frame.size());
  bpf_test_run_opts opts = {};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.repeat = 1;
  ASSERT_EQ(bpf_prog_test_run_opts(prog_fd, &opts), 0) << strerror(errno);
  EXPECT_EQ(opts.retval, static_cast<uint32_t>(TC_ACT_UNSPEC));
  EXPECT_EQ(out, frame);
  empty__destroy(skel);
}

}  // namespace
