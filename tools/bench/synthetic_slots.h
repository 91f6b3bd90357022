// A generation half filled with distinct flows, as the tc programs would leave it, for the
// benchmarks that time draining and exporting without running packets.

#ifndef TCFLOW_TOOLS_BENCH_SYNTHETIC_SLOTS_H_
#define TCFLOW_TOOLS_BENCH_SYNTHETIC_SLOTS_H_

#include <cstdint>

#include "bpf/tcflow_abi.h"
#include "daemon/drain/drainer.h"

namespace tcflow::bench {

// The i-th of up to 2^32 distinct IPv4/UDP keys (10.x.y.z -> 192.0.0.1:53).
tcflow_flow_key SyntheticFlowKey(uint32_t i);

// Fills the first `n` slots of the half the programs write now with distinct flows
// (1-8 packets of 100 bytes each) and hands them out in control.next_slot.
void FillCurrentHalf(Drainer* drainer, uint32_t n);

}  // namespace tcflow::bench

#endif  // TCFLOW_TOOLS_BENCH_SYNTHETIC_SLOTS_H_
