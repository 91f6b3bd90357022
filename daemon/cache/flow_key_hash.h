// Hashing and equality over the 56 bytes of a tcflow_flow_key.
//
// The key is hashed as seven 64-bit words folded pairwise with 64x64->128-bit multiplies
// (the "mum" step of wyhash): a handful of instructions, good avalanche in every bit that
// absl's SwissTable uses (H2 = low 7 bits, H1 = the rest). Addresses and ports are chosen by
// whoever sends packets through the router, so each cache mixes in a seed of its own that
// nobody outside the process knows (collisions cannot be precomputed).

#ifndef TCFLOW_DAEMON_CACHE_FLOW_KEY_HASH_H_
#define TCFLOW_DAEMON_CACHE_FLOW_KEY_HASH_H_

#include <cstdint>
#include <cstring>

#include "bpf/tcflow_abi.h"

namespace tcflow::cache {

static_assert(sizeof(tcflow_flow_key) == 56, "tcflow_flow_key has no padding: 7 words");

inline uint64_t Mum(uint64_t a, uint64_t b) {
  __uint128_t r = static_cast<__uint128_t>(a) * b;
  return static_cast<uint64_t>(r) ^ static_cast<uint64_t>(r >> 64);
}

inline uint64_t HashFlowKey(const tcflow_flow_key& key, uint64_t seed) {
  uint64_t w[7];
  std::memcpy(w, &key, sizeof(w));
  constexpr uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                     k2 = 0x8ebc6af09c88c6e3ull, k3 = 0x589965cc75374cc3ull;
  uint64_t h = Mum(w[0] ^ k0 ^ seed, w[1] ^ k1) ^ Mum(w[2] ^ k2, w[3] ^ k3 ^ seed) ^
               Mum(w[4] ^ k1 ^ seed, w[5] ^ k2) ^ Mum(w[6] ^ k3, k0 ^ seed);
  return Mum(h ^ k0, h ^ k1 ^ 56);
}

// Seven word compares, branch-free, inlined (a memcmp call costs more than the compare).
inline bool FlowKeyEqual(const tcflow_flow_key& a, const tcflow_flow_key& b) {
  uint64_t x[7], y[7];
  std::memcpy(x, &a, sizeof(x));
  std::memcpy(y, &b, sizeof(y));
  return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4]) |
          (x[5] ^ y[5]) | (x[6] ^ y[6])) == 0;
}

}  // namespace tcflow::cache

#endif  // TCFLOW_DAEMON_CACHE_FLOW_KEY_HASH_H_
