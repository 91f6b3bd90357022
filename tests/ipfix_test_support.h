// Helpers for the IPFIX tests that start collectors we did not write (tests only: these
// start programs, which tcflow itself never does).

#ifndef TCFLOW_TESTS_IPFIX_TEST_SUPPORT_H_
#define TCFLOW_TESTS_IPFIX_TEST_SUPPORT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tcflow::testsupport {

// A fresh directory, removed with its contents at the end of the scope.
class TempDir {
 public:
  explicit TempDir(const std::string& tag);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A loopback UDP/TCP port nobody is bound to right now.
uint16_t FreeUdpPort();
uint16_t FreeTcpPort();
// True once something is bound to 127.0.0.1:port (UDP), false after ~10 s.
bool WaitForUdpPort(uint16_t port);

// Runs a shell command, returns its stdout.
std::string RunCommand(const std::string& command);

// Sends each message as one datagram to 127.0.0.1:port, paced so a collector keeps up.
void SendDatagrams(uint16_t port, const std::vector<std::vector<uint8_t>>& messages);

// A collector process: started in the constructor with its output in `log`, stopped
// (SIGTERM, then SIGKILL after 5 s) by Stop() or the destructor.
class Collector {
 public:
  Collector(const std::vector<std::string>& argv, const std::string& log);
  ~Collector();
  void Stop();
  std::string Log() const;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  std::string log_;
};

}  // namespace tcflow::testsupport

#endif  // TCFLOW_TESTS_IPFIX_TEST_SUPPORT_H_
