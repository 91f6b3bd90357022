// Stage 2 of loading: semantic checks of a parsed config. Every problem is reported (not
// only the first), each with the path of the field it is about.

#ifndef TCFLOW_CONFIG_VALIDATE_H_
#define TCFLOW_CONFIG_VALIDATE_H_

#include <string>
#include <vector>

#include "config/tcflow.pb.h"

namespace tcflow::config {

struct FieldError {
  std::string path;  // "collector[1].port"; empty for the config as a whole
  std::string message;
};

// `written` is the config as parsed (presence tells what the user wrote: options that only
// apply in some modes are refused when written for another); `resolved` is the same after
// ApplyDefaults. Returns no errors when the config can run.
std::vector<FieldError> Validate(const TcflowConfig& written, const TcflowConfig& resolved);

}  // namespace tcflow::config

#endif  // TCFLOW_CONFIG_VALIDATE_H_
