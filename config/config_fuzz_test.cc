// Fuzz test of the config loader: random and mutated texts (seeded from the committed
// corpus in testdata/fuzz_seed/, the examples, the broken configs and the built-in default)
// go through LoadConfigText. It must never crash or hang, and every outcome must be either
// a valid config that survives a print/reload round trip, or errors that each carry a
// FILE:LINE:COLUMN location or a field path.
//
// Bounded: TCFLOW_FUZZ_ITERATIONS inputs (default 20000) or 30 s, whichever comes first.
// TCFLOW_FUZZ_SEED picks the random sequence (default fixed, so a failure reproduces).

#include <chrono>
#include <cstdlib>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "config/config.h"
#include "config/testdata_dir.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace tcflow::config {
namespace {

constexpr char kFile[] = "fuzz.conf";

// Words and values of the schema, and syntax, for insertion mutations.
const char* const kDictionary[] = {
    "interfaces", "attach", "flow_key", "table", "flow_cache", "collector", "template",
    "json_log", "metrics", "daemon", "events", "netns", "netns_path", "include",
    "all_but_loopback", "exclude", "direction", "tc_priority", "tc_handle", "reattach",
    "stay_attached_on_exit", "vlan", "mark", "slots_per_half", "drain_interval_ms",
    "idle_timeout_s", "active_timeout_s", "tcp_end_of_flow", "tcp_end_linger_s", "max_flows",
    "name", "address", "port", "transport", "mtu", "template_refresh_s",
    "observation_domain_id", "templates", "options_records", "send_queue_bytes", "family",
    "template_id", "ie", "path", "enabled", "listen", "control_socket", "bpffs_pin_path",
    "ndp", "ext_chain_alert_depth", "INGRESS", "EGRESS", "BOTH", "UDP", "TCP", "IPV4", "IPV6",
    "END_ON_FIN_OR_RST", "TIMEOUT_ONLY", "true", "false", "{", "}", "<", ">", "[", "]", ":",
    ";", ",", "\"", "'", "#", "\n", "\t", " ", "\\", "\"\\x00\"", "\"192.0.2.1\"",
    "\"::1\"", "\"eth*\"", "\"ipv4\"", "\"octetDeltaCount\"", "\"sourceIPv6Address\"",
    "[ext.field]", "0", "-1", "65535", "65536", "4294967295", "4294967296",
    "18446744073709551616", "0x", "0x7fffffff", "1e9", "-0", "nan", "inf", "017",
    "collector { address: \"192.0.2.1\" }", "interfaces { include: \"eth0\" }",
};

class Mutator {
 public:
  explicit Mutator(uint64_t seed, std::vector<std::string> seeds)
      : rng_(seed), seeds_(std::move(seeds)) {}

  std::string Next() {
    if (Chance(10)) return RandomText();
    std::string s = seeds_[Below(seeds_.size())];
    int mutations = 1 + Below(4);
    for (int i = 0; i < mutations; ++i) Mutate(s);
    return s;
  }

 private:
  size_t Below(size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool Chance(int percent) { return Below(100) < static_cast<size_t>(percent); }

  const char* Word() { return kDictionary[Below(std::size(kDictionary))]; }

  std::string RandomText() {
    std::string s;
    size_t words = Below(60);
    for (size_t i = 0; i < words; ++i) {
      s += Chance(15) ? std::string(1, static_cast<char>(Below(256))) : Word();
      if (Chance(60)) s += ' ';
    }
    return s;
  }

  void Mutate(std::string& s) {
    size_t at = Below(s.size() + 1);
    switch (Below(8)) {
      case 0:  // flip a byte
        if (!s.empty()) s[Below(s.size())] = static_cast<char>(Below(256));
        break;
      case 1:  // insert a dictionary word
        s.insert(at, Word());
        break;
      case 2: {  // delete a span
        size_t n = 1 + Below(32);
        s.erase(at, n);
        break;
      }
      case 3: {  // duplicate a span
        size_t n = 1 + Below(64);
        s.insert(at, s.substr(at, n));
        break;
      }
      case 4: {  // splice with another seed
        const std::string& other = seeds_[Below(seeds_.size())];
        s = s.substr(0, at) + other.substr(Below(other.size() + 1));
        break;
      }
      case 5: {  // replace a digit run with an edge value
        size_t d = s.find_first_of("0123456789", at);
        if (d == std::string::npos) break;
        size_t e = s.find_first_not_of("0123456789", d);
        static const char* const kEdges[] = {"0", "1", "255", "256", "1023", "65535", "65536",
                                             "4294967295", "4294967296", "99999999999999999999"};
        s.replace(d, (e == std::string::npos ? s.size() : e) - d, kEdges[Below(10)]);
        break;
      }
      case 6:  // insert raw bytes
        for (size_t n = 1 + Below(4); n > 0; --n) s.insert(at, 1, static_cast<char>(Below(256)));
        break;
      case 7:  // truncate
        s.resize(at);
        break;
    }
  }

  std::mt19937_64 rng_;
  std::vector<std::string> seeds_;
};

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::strtoull(v, nullptr, 10) : fallback;
}

std::vector<std::string> LoadSeeds() {
  std::vector<std::string> seeds = {std::string(BuiltinDefaultConfigText())};
  for (const char* dir : {"config/testdata/fuzz_seed", "config/examples",
                          "config/testdata/broken"}) {
    for (const std::string& path : FilesIn(RunfilesPath(dir), ".textproto")) {
      seeds.push_back(ReadFileOrDie(path));
    }
  }
  return seeds;
}

// Every check an outcome must pass; returns "" or what is wrong.
std::string CheckOutcome(const std::string& input, const LoadResult& r) {
  static const std::regex kPath(R"(^[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*$)");
  static const std::regex kLine(R"(^fuzz\.conf(:[1-9]\d*:[1-9]\d*)?: .+$)");
  if (r.ok()) {
    if (!r.config.has_value()) return "no errors but no config";
    // A valid config prints and reloads to the same thing.
    std::string printed;
    google::protobuf::TextFormat::PrintToString(r.config->resolved, &printed);
    LoadResult again = LoadConfigText(printed, kFile);
    if (!again.ok()) return "resolved config does not reload: " + FormatErrors(again.errors);
    if (!google::protobuf::util::MessageDifferencer::Equals(r.config->resolved,
                                                            again.config->resolved)) {
      return "resolved config changes on reload";
    }
    return "";
  }
  if (r.config.has_value()) return "errors and a config";
  const size_t lines = std::count(input.begin(), input.end(), '\n') + 1;
  for (const ConfigError& e : r.errors) {
    const std::string text = e.ToString();
    if (e.file != kFile) return "wrong file in: " + text;
    if (e.message.empty()) return "empty message";
    if (e.message.find('\n') != std::string::npos) return "multi-line message: " + text;
    for (char c : text) {
      if (c < 0x20 || c >= 0x7f) return "unprintable byte in: " + text;
    }
    if (!std::regex_match(text, kLine)) return "badly formed: " + text;
    if (e.line > static_cast<int>(lines)) return "line past the end: " + text;
    if (e.line > 0 && e.column <= 0) return "line without column: " + text;
    if (!e.path.empty()) {
      if (!std::regex_match(e.path, kPath)) return "bad field path: " + text;
      continue;
    }
    // Without a path: a syntax error (located) or one of the whole-file messages.
    if (e.line > 0) continue;
    if (e.message.rfind("nothing to export to", 0) != 0 &&
        e.message.rfind("larger than", 0) != 0 && e.message != "not a valid tcflow config") {
      return "error with neither location nor path: " + text;
    }
  }
  return "";
}

TEST(ConfigFuzz, RandomAndMutatedInputs) {
  const uint64_t seed = EnvOr("TCFLOW_FUZZ_SEED", 20261121);
  const uint64_t iterations = EnvOr("TCFLOW_FUZZ_ITERATIONS", 20000);
  const auto budget = std::chrono::seconds(EnvOr("TCFLOW_FUZZ_SECONDS", 30));
  std::vector<std::string> seeds = LoadSeeds();
  ASSERT_GE(seeds.size(), 30u) << "seed corpus missing from the runfiles";

  Mutator mutator(seed, seeds);
  const auto start = std::chrono::steady_clock::now();
  std::chrono::steady_clock::duration slowest{};
  size_t slowest_size = 0;
  uint64_t done = 0, valid = 0, syntax = 0, semantic = 0;
  for (; done < iterations; ++done) {
    if (std::chrono::steady_clock::now() - start > budget) break;
    const std::string input = mutator.Next();
    const auto t0 = std::chrono::steady_clock::now();
    LoadResult r = LoadConfigText(input, kFile);
    const auto took = std::chrono::steady_clock::now() - t0;
    if (took > slowest) {
      slowest = took;
      slowest_size = input.size();
    }
    std::string problem = CheckOutcome(input, r);
    ASSERT_EQ(problem, "") << "input #" << done << " (seed " << seed << "):\n" << input;
    if (r.ok()) {
      ++valid;
    } else if (r.errors[0].path.empty()) {
      ++syntax;
    } else {
      ++semantic;
    }
  }
  const double slowest_ms = std::chrono::duration<double, std::milli>(slowest).count();
  std::printf("seed %llu: %llu inputs: %llu valid, %llu syntax errors, %llu semantic errors; "
              "slowest %.2f ms (%zu bytes)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(done),
              static_cast<unsigned long long>(valid), static_cast<unsigned long long>(syntax),
              static_cast<unsigned long long>(semantic), slowest_ms, slowest_size);
  // Enough inputs to mean something even under qemu, and each path was taken.
  EXPECT_GE(done, 500u);
  EXPECT_GT(valid, 0u);
  EXPECT_GT(syntax, 0u);
  EXPECT_GT(semantic, 0u);
  // No input may take long: a slow one is a hang in the making (the bound leaves room for
  // a loaded machine and qemu; inputs take well under a millisecond).
  EXPECT_LT(slowest_ms, 3000.0);
}

}  // namespace
}  // namespace tcflow::config
