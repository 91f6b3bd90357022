// The crash state on a file system that fills up (a 2 MiB tmpfs, as a small /run might be):
// the flow cache keeps working and counting exactly, with fewer flows, instead of dying of
// SIGBUS on a shared mapping. Root: mounts a tmpfs in a private mount namespace.

#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/cache/cache_state.h"
#include "daemon/cache/flow_cache.h"
#include "gtest/gtest.h"

namespace tcflow::cache {
namespace {

FlowRecord Inc(uint32_t id, uint64_t packets, int64_t now_ms) {
  FlowRecord r{};
  r.key.ifindex = 2;
  r.key.ip_version = 4;
  r.key.protocol = 17;
  std::memcpy(r.key.src_addr + 12, &id, sizeof(id));
  r.packets = packets;
  r.bytes = packets * 100;
  r.start_ms = r.end_ms = now_ms;
  r.min_ttl = r.max_ttl = 64;
  return r;
}

TEST(CacheStateFullTest, AFullFileSystemDegradesExactlyAndNeverFaults) {
  if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    GTEST_SKIP() << "cannot make a private mount namespace here: " << std::strerror(errno);
  }
  char tmpl[] = "/tmp/tcflow_state_full_XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  ASSERT_EQ(mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=2m"), 0) << std::strerror(errno);
  const std::string path = dir + "/flows.state";

  FlowCacheOptions o;
  o.max_flows = 100000;  // 12.8 MB of entries: far more than the 2 MiB file system holds
  std::vector<FlowRecord> recovered, ended;
  auto cache = FlowCache::CreateDurable(o, path, &recovered);
  ASSERT_TRUE(cache.ok()) << cache.status();
  ASSERT_TRUE((*cache)->PublishState().ok());
  uint64_t merged = 0;
  for (uint32_t i = 0; i < 60000; ++i) {
    const FlowRecord inc = Inc(i, 1 + i % 7, 1000 + i / 1000);
    merged += inc.packets;
    (*cache)->Merge(inc, &ended);
  }
  const FlowCacheStats& st = (*cache)->stats();
  EXPECT_GT(st.storage_full, 0u) << "the file system never filled: the test tests nothing";
  EXPECT_LT((*cache)->size(), 60000u);
  uint64_t counted = 0;
  for (const FlowRecord& r : ended) counted += r.packets;
  (*cache)->ForEach([&](const FlowRecord& r) { counted += r.packets; });
  EXPECT_EQ(counted, merged) << "every packet is in an ended record or in the cache";
  EXPECT_EQ(st.packets_exported + [&] {
    uint64_t n = 0;
    (*cache)->ForEach([&](const FlowRecord& r) { n += r.packets; });
    return n;
  }(), merged);
  // What the state file holds is still readable by a successor.
  auto held = CacheState::Recover(path);
  ASSERT_TRUE(held.ok()) << held.status();
  uint64_t in_state = 0;
  for (const FlowRecord& r : *held) in_state += r.packets;
  EXPECT_GT(in_state, 0u);
  EXPECT_LE(in_state, merged);
  std::printf("2 MiB tmpfs: %zu flows cached, %zu records ended, %llu new flows found no room, "
              "%llu records unprotected\n",
              (*cache)->size(), ended.size(), static_cast<unsigned long long>(st.storage_full),
              static_cast<unsigned long long>(st.records_unprotected));
  cache->reset();
  umount(dir.c_str());
  rmdir(dir.c_str());
}

}  // namespace
}  // namespace tcflow::cache
