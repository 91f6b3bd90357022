#include "tools/flowctl/config_commands.h"

#include <cstdio>
#include <string>

#include "config/config.h"
#include "google/protobuf/text_format.h"
#include "tools/cli/flags.h"

namespace tcflow::flowctl {

int RunConfigCheck(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl config check",
                        "Checks tcflow config files: syntax, then every field's meaning.");
  bool resolved = false;
  flags.AddBool("resolved", 0, &resolved,
                "print the config with every default filled in (when it is valid)");
  flags.SetPositional("FILE...", "config files (protobuf text format, see config/tcflow.proto)");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  if (flags.positional().empty()) {
    std::fprintf(stderr, "flowctl config check: give a config FILE (see --help)\n");
    return 2;
  }
  int rc = 0;
  for (const std::string& file : flags.positional()) {
    config::LoadResult result = config::LoadConfigFile(file);
    if (!result.ok()) {
      std::fputs(config::FormatErrors(result.errors).c_str(), stderr);
      std::fprintf(stderr, "%s: %zu error%s\n", file.c_str(), result.errors.size(),
                   result.errors.size() == 1 ? "" : "s");
      rc = 1;
      continue;
    }
    const config::Config& c = *result.config;
    std::printf("%s: OK (%zu interface selection%s, %zu collector%s, %zu template%s%s)\n",
                file.c_str(), c.interfaces.size(), c.interfaces.size() == 1 ? "" : "s",
                c.collectors.size(), c.collectors.size() == 1 ? "" : "s", c.templates.size(),
                c.templates.size() == 1 ? "" : "s", c.json_log_path.empty() ? "" : ", JSON log");
    if (resolved) {
      std::string text;
      google::protobuf::TextFormat::PrintToString(c.resolved, &text);
      std::fputs(text.c_str(), stdout);
    }
  }
  return rc;
}

int RunConfigDefault(const std::vector<std::string>& args) {
  cli::FlagParser flags("flowctl config default",
                        "Prints the built-in default config, every field spelled out.");
  if (int rc = cli::ParseOrExit(flags, args); rc >= 0) return rc;
  absl::string_view text = config::BuiltinDefaultConfigText();
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}

}  // namespace tcflow::flowctl
