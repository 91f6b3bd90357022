#include "tools/bench/synthetic_slots.h"

#include <time.h>

#include <cstring>

#include "daemon/drain/wall_clock.h"

namespace tcflow::bench {

tcflow_flow_key SyntheticFlowKey(uint32_t i) {
  tcflow_flow_key k;
  std::memset(&k, 0, sizeof(k));
  k.ifindex = 2;
  k.ip_version = 4;
  k.protocol = 17;
  k.src_addr[10] = k.src_addr[11] = 0xff;
  k.src_addr[12] = 10;
  k.src_addr[13] = static_cast<uint8_t>(i >> 16);
  k.src_addr[14] = static_cast<uint8_t>(i >> 8);
  k.src_addr[15] = static_cast<uint8_t>(i);
  k.dst_addr[10] = k.dst_addr[11] = 0xff;
  k.dst_addr[12] = 192;
  k.dst_addr[15] = 1;
  k.src_port = static_cast<uint16_t>(1024 + (i >> 24));
  k.dst_port = 53;
  return k;
}

void FillCurrentHalf(Drainer* drainer, uint32_t n) {
  const uint32_t half = drainer->generation() & 1;
  tcflow_slot* base = drainer->slots() + drainer->layout().SlotIndex(half, 0);
  const uint64_t now = static_cast<uint64_t>(WallClock::ReadClockNs(CLOCK_MONOTONIC));
  for (uint32_t i = 0; i < n; ++i) {
    base[i].key = SyntheticFlowKey(i);
    tcflow_flow_stats& s = base[i].stats;
    s.packets = 1 + (i & 7);
    s.bytes = 100 * s.packets;
    s.first_seen_ns = now - 1000000;
    s.last_seen_ns = now;
    s.min_ttl = 64;
    s.max_ttl = 64;
  }
  drainer->control()->next_slot[half] = n;
}

}  // namespace tcflow::bench
