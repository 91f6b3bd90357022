// Mutation fuzzing of the decoder (no libFuzzer in this toolchain): the committed seed
// corpus plus fresh exporter output, mutated by a seeded PRNG, must never crash, hang or
// give an unclear error. Bounded to ~20 s of wall time (also under qemu).
//
// TCFLOW_WRITE_CORPUS=DIR regenerates the exporter seeds into DIR.

#include <dirent.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "daemon/ipfix/decoder.h"
#include "daemon/ipfix/exporter.h"
#include "daemon/ipfix/memory_transport.h"
#include "daemon/ipfix/synthetic_flows.h"
#include "gtest/gtest.h"

namespace tcflow::ipfix {
namespace {

using Bytes = std::vector<uint8_t>;

std::vector<Bytes> ExporterMessages() {
  auto t = std::make_unique<MemoryTransport>(1472);
  MemoryTransport* raw = t.get();
  ExporterOptions options;
  options.ipv4_elements = AllFlowElementNames();
  auto e = Exporter::Create(options, std::move(t));
  (*e)->SetInterfaces({{2, "eth0", "uplink"}, {3, "veth-very-long-name", std::string(260, 'x')}});
  (*e)->Export(SyntheticFlows(40, 0.5, 1700000000000), absl::FromUnixSeconds(1700000000));
  return raw->messages();
}

std::vector<Bytes> LoadCorpus() {
  std::vector<Bytes> seeds;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  std::string dir = srcdir && ws ? absl::StrCat(srcdir, "/", ws, "/daemon/ipfix/testdata/decoder_corpus")
                                 : "daemon/ipfix/testdata/decoder_corpus";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return seeds;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + e->d_name, std::ios::binary);
    seeds.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  closedir(d);
  return seeds;
}

// Regenerates the exporter seeds of the committed corpus (run the fuzz test with
// TCFLOW_WRITE_CORPUS=DIR); not a test of its own.
void WriteCorpus(const char* dir) {
  std::vector<Bytes> msgs = ExporterMessages();
  for (size_t i = 0; i < msgs.size(); ++i) {
    std::ofstream out(absl::StrCat(dir, "/exporter_", i, ".ipfix"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(msgs[i].data()), msgs[i].size());
  }
}

void Mutate(Bytes& b, std::mt19937_64& rng, const std::vector<Bytes>& pool) {
  int n = 1 + rng() % 4;
  for (int i = 0; i < n; ++i) {
    switch (rng() % 8) {
      case 0:
        if (!b.empty()) b[rng() % b.size()] ^= 1 << (rng() % 8);
        break;
      case 1:
        if (!b.empty()) b[rng() % b.size()] = static_cast<uint8_t>(rng());
        break;
      case 2:  // interesting values at a 16-bit position (lengths, ids, counts)
        if (b.size() >= 2) {
          static const uint16_t kVals[] = {0, 1, 3, 4, 0xff, 0xffff, 0x8000, 256, 2, 3, 16};
          size_t p = rng() % (b.size() - 1);
          uint16_t v = kVals[rng() % (sizeof(kVals) / 2)];
          b[p] = v >> 8;
          b[p + 1] = v & 0xff;
        }
        break;
      case 3:
        if (!b.empty()) b.resize(rng() % b.size());
        break;
      case 4: {
        size_t p = b.empty() ? 0 : rng() % b.size();
        b.insert(b.begin() + p, rng() % 16, static_cast<uint8_t>(rng()));
        break;
      }
      case 5:
        if (!b.empty()) {
          size_t p = rng() % b.size();
          size_t len = rng() % (b.size() - p + 1);
          b.erase(b.begin() + p, b.begin() + p + len);
        }
        break;
      case 6: {  // splice another seed in
        const Bytes& o = pool[rng() % pool.size()];
        if (!o.empty()) {
          size_t from = rng() % o.size();
          size_t p = b.empty() ? 0 : rng() % b.size();
          b.insert(b.begin() + p, o.begin() + from, o.end());
        }
        break;
      }
      default:  // make the header length agree, so the sets get parsed
        if (b.size() >= 4 && b.size() <= 65535) {
          b[2] = b.size() >> 8;
          b[3] = b.size() & 0xff;
        }
        break;
    }
  }
}

TEST(DecoderFuzzTest, NoCrashNoHangClearErrors) {
  if (const char* dir = std::getenv("TCFLOW_WRITE_CORPUS")) WriteCorpus(dir);
  std::vector<Bytes> pool = LoadCorpus();
  ASSERT_GE(pool.size(), 5u) << "the committed seed corpus is missing";
  for (Bytes& m : ExporterMessages()) pool.push_back(std::move(m));
  std::mt19937_64 rng(20261121);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  uint64_t runs = 0, errors = 0, records = 0;
  while (runs < 300000 && std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 100; ++i, ++runs) {
      Decoder d;
      DecodedMessage m;
      // Learn the templates of one seed first, so data sets get decoded too.
      (void)d.Decode(pool[rng() % pool.size()], &m);
      Bytes b = pool[rng() % pool.size()];
      Mutate(b, rng, pool);
      absl::Status s = d.Decode(b, &m);
      if (!s.ok()) {
        ++errors;
        ASSERT_TRUE(absl::StartsWith(s.message(), "malformed IPFIX message: ")) << s;
      }
      records += m.records.size();
      for (const DecodedRecord& r : m.records) {
        for (const DecodedField& f : r.fields) f.ValueText();
      }
      size_t len;
      Decoder::MessageLength(b, &len).IgnoreError();
    }
  }
  std::printf("%llu inputs, %llu rejected, %llu records decoded\n",
              static_cast<unsigned long long>(runs), static_cast<unsigned long long>(errors),
              static_cast<unsigned long long>(records));
  EXPECT_GT(runs, 5000u);
  EXPECT_GT(errors, 0u);
  EXPECT_GT(records, 0u);
}

}  // namespace
}  // namespace tcflow::ipfix
