// The one translation unit that includes bpf/tcflow.skel.h. The skeleton's C struct is
// named `tcflow`, which collides with the C++ namespace `tcflow`, so the skeleton is kept
// behind these plain functions (namespace tcflow_skel) and never seen by the rest.

#ifndef TCFLOW_DAEMON_LOADER_SKEL_SHIM_H_
#define TCFLOW_DAEMON_LOADER_SKEL_SHIM_H_

#include <cstdint>

struct bpf_object;

namespace tcflow_skel {

struct Knobs {
  uint32_t slots_per_half;
  bool key_vlan;
  bool key_mark;
  uint32_t ext_alert_depth;
  bool ndp_events;
};

struct Handle;  // the skeleton

// Opens the embedded object (not loaded yet). nullptr and errno on failure.
Handle* Open();
bpf_object* Object(Handle* h);
void SetKnobs(Handle* h, const Knobs& knobs);
Knobs GetKnobs(Handle* h);
int Load(Handle* h);  // 0 or -errno
void Destroy(Handle* h);

}  // namespace tcflow_skel

#endif  // TCFLOW_DAEMON_LOADER_SKEL_SHIM_H_
