#include "tools/cli/flags.h"

#include <cstdio>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tcflow::cli {

FlagParser::FlagParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

void FlagParser::AddString(std::string name, char short_name, std::string* out,
                           std::string value_name, std::string help) {
  flags_.push_back({std::move(name), short_name, std::move(value_name), std::move(help),
                    [out](absl::string_view v) {
                      *out = std::string(v);
                      return absl::OkStatus();
                    }});
}

void FlagParser::AddStringList(std::string name, char short_name,
                               std::vector<std::string>* out, std::string value_name,
                               std::string help) {
  flags_.push_back({std::move(name), short_name, std::move(value_name),
                    std::move(help) + " (repeatable)", [out](absl::string_view v) {
                      out->emplace_back(v);
                      return absl::OkStatus();
                    }});
}

void FlagParser::AddInt(std::string name, char short_name, int64_t* out,
                        std::string value_name, std::string help) {
  std::string flag_name = name;
  flags_.push_back({std::move(name), short_name, std::move(value_name), std::move(help),
                    [out, flag_name](absl::string_view v) {
                      if (!absl::SimpleAtoi(v, out)) {
                        return absl::InvalidArgumentError(absl::StrCat(
                            "--", flag_name, ": '", v, "' is not a whole number"));
                      }
                      return absl::OkStatus();
                    }});
}

void FlagParser::AddBool(std::string name, char short_name, bool* out, std::string help) {
  flags_.push_back({std::move(name), short_name, "", std::move(help),
                    [out](absl::string_view) {
                      *out = true;
                      return absl::OkStatus();
                    }});
}

void FlagParser::SetPositional(std::string usage, std::string help) {
  positional_usage_ = std::move(usage);
  positional_help_ = std::move(help);
}

const FlagParser::Flag* FlagParser::Find(absl::string_view long_name,
                                         char short_name) const {
  for (const Flag& f : flags_) {
    if (short_name != 0 ? f.short_name == short_name : f.name == long_name) return &f;
  }
  return nullptr;
}

absl::Status FlagParser::Parse(const std::vector<std::string>& args) {
  positional_.clear();
  help_requested_ = false;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (flags_done || arg.size() < 2 || arg[0] != '-') {
      positional_.emplace_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    const Flag* flag = nullptr;
    absl::string_view value;
    bool has_inline_value = false;
    if (arg[1] == '-') {
      absl::string_view body = arg.substr(2);
      size_t eq = body.find('=');
      if (eq != absl::string_view::npos) {
        value = body.substr(eq + 1);
        body = body.substr(0, eq);
        has_inline_value = true;
      }
      flag = Find(body, 0);
    } else if (arg.size() == 2) {
      flag = Find("", arg[1]);
    }
    if (flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown option '", arg, "' (see ", command_, " --help)"));
    }
    if (flag->value_name.empty()) {
      if (has_inline_value) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", flag->name, " takes no value"));
      }
      absl::Status s = flag->set("");
      if (!s.ok()) return s;
      continue;
    }
    if (!has_inline_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("option '", arg, "' needs a value (", flag->value_name, ")"));
      }
      value = args[++i];
    }
    absl::Status s = flag->set(value);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string FlagParser::Help() const {
  std::string out = absl::StrCat("usage: ", command_, flags_.empty() ? "" : " [options]",
                                 positional_usage_.empty() ? "" : " ", positional_usage_,
                                 "\n\n", summary_, "\n");
  if (!positional_help_.empty()) {
    absl::StrAppend(&out, "\n  ", positional_usage_, "\n      ", positional_help_, "\n");
  }
  if (!flags_.empty()) absl::StrAppend(&out, "\noptions:\n");
  for (const Flag& f : flags_) {
    std::string names = f.short_name != 0 ? absl::StrFormat("-%c, --%s", f.short_name, f.name)
                                          : absl::StrCat("    --", f.name);
    if (!f.value_name.empty()) absl::StrAppend(&names, " ", f.value_name);
    absl::StrAppend(&out, absl::StrFormat("  %-28s %s\n", names, f.help));
  }
  absl::StrAppend(&out, absl::StrFormat("  %-28s %s\n", "-h, --help", "show this help"));
  return out;
}

int ParseOrExit(FlagParser& flags, const std::vector<std::string>& args) {
  absl::Status status = flags.Parse(args);
  if (flags.help_requested()) {
    std::fputs(flags.Help().c_str(), stdout);
    return 0;
  }
  if (!status.ok()) {
    std::fprintf(stderr, "%s\n", std::string(status.message()).c_str());
    return 2;
  }
  return -1;
}

}  // namespace tcflow::cli
