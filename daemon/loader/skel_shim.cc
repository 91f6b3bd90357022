// Only this file sees the skeleton (see skel_shim.h). Do not include headers that open
// namespace tcflow here.
#include "daemon/loader/skel_shim.h"

#include "bpf/tcflow.skel.h"

namespace tcflow_skel {

struct Handle {
  ::tcflow* skel;
};

Handle* Open() {
  ::tcflow* s = ::tcflow__open();
  if (s == nullptr) return nullptr;
  return new Handle{s};
}

bpf_object* Object(Handle* h) { return h->skel->obj; }

void SetKnobs(Handle* h, const Knobs& k) {
  h->skel->rodata->tcflow_cfg_slots_per_half = k.slots_per_half;
  h->skel->rodata->tcflow_cfg_key_vlan = k.key_vlan;
  h->skel->rodata->tcflow_cfg_key_mark = k.key_mark;
  h->skel->rodata->tcflow_cfg_ext_alert_depth = k.ext_alert_depth;
  h->skel->rodata->tcflow_cfg_ndp_events = k.ndp_events;
}

Knobs GetKnobs(Handle* h) {
  Knobs k;
  k.slots_per_half = h->skel->rodata->tcflow_cfg_slots_per_half;
  k.key_vlan = h->skel->rodata->tcflow_cfg_key_vlan;
  k.key_mark = h->skel->rodata->tcflow_cfg_key_mark;
  k.ext_alert_depth = h->skel->rodata->tcflow_cfg_ext_alert_depth;
  k.ndp_events = h->skel->rodata->tcflow_cfg_ndp_events;
  return k;
}

int Load(Handle* h) { return ::tcflow__load(h->skel); }

void Destroy(Handle* h) {
  if (h == nullptr) return;
  ::tcflow__destroy(h->skel);
  delete h;
}

}  // namespace tcflow_skel
