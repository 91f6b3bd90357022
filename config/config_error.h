// One problem found in a config file, located by line/column, by field path, or both.

#ifndef TCFLOW_CONFIG_CONFIG_ERROR_H_
#define TCFLOW_CONFIG_CONFIG_ERROR_H_

#include <string>
#include <vector>

namespace tcflow::config {

struct ConfigError {
  std::string file;     // as given by the caller
  int line = 0;         // 1-based; 0 when unknown
  int column = 0;       // 1-based byte column; 0 when unknown
  std::string path;     // field path ("collector[1].port"); empty for syntax errors
  std::string message;

  // "FILE:LINE:COLUMN: PATH: MESSAGE", leaving out what is unknown.
  std::string ToString() const;
};

// One error per line.
std::string FormatErrors(const std::vector<ConfigError>& errors);

}  // namespace tcflow::config

#endif  // TCFLOW_CONFIG_CONFIG_ERROR_H_
