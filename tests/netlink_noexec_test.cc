// No exec at run time: the tcflow binary (daemon + flowctl) must not import anything that
// starts another program. Reads the ELF dynamic symbol table of //tools:tcflow (or of the
// file named by $TCFLOW_BINARY, e.g. a --config=release build) and lists every import from
// the exec family, system, popen, posix_spawn* and vfork.
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace {

std::string BinaryPath() {
  if (const char* path = std::getenv("TCFLOW_BINARY")) return path;
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return std::string(srcdir != nullptr ? srcdir : ".") + "/tcflow/tools/tcflow";
}

// The undefined (imported) symbols of the dynamic symbol table.
std::set<std::string> Imports(const std::string& path) {
  std::set<std::string> imports;
  elf_version(EV_CURRENT);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0) << path;
  if (fd < 0) return imports;
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  EXPECT_NE(elf, nullptr) << elf_errmsg(-1);
  Elf_Scn* scn = nullptr;
  while (elf != nullptr && (scn = elf_nextscn(elf, scn)) != nullptr) {
    GElf_Shdr shdr;
    if (gelf_getshdr(scn, &shdr) == nullptr || shdr.sh_type != SHT_DYNSYM) continue;
    Elf_Data* data = elf_getdata(scn, nullptr);
    size_t count = shdr.sh_entsize != 0 ? shdr.sh_size / shdr.sh_entsize : 0;
    for (size_t i = 0; i < count; ++i) {
      GElf_Sym sym;
      if (gelf_getsym(data, static_cast<int>(i), &sym) == nullptr) continue;
      if (sym.st_shndx != SHN_UNDEF || sym.st_name == 0) continue;
      const char* name = elf_strptr(elf, shdr.sh_link, sym.st_name);
      if (name != nullptr) imports.insert(name);
    }
  }
  if (elf != nullptr) elf_end(elf);
  close(fd);
  return imports;
}

bool StartsAnotherProgram(const std::string& name) {
  static const char* const kExact[] = {"system",  "popen",    "vfork",  "fexecve",
                                       "execve",  "execveat", "execv",  "execvp",
                                       "execvpe", "execl",    "execlp", "execle"};
  for (const char* banned : kExact) {
    if (name == banned) return true;
  }
  return name.rfind("posix_spawn", 0) == 0 || name.rfind("exec", 0) == 0;
}

TEST(NoExecTest, BinaryImportsNothingThatStartsAProgram) {
  std::string path = BinaryPath();
  std::set<std::string> imports = Imports(path);
  // Proof that the table was read (a dynamically linked binary imports from glibc).
  ASSERT_GT(imports.size(), 10u) << path;
  std::vector<std::string> offenders;
  for (const std::string& name : imports) {
    if (StartsAnotherProgram(name)) offenders.push_back(name);
  }
  EXPECT_TRUE(offenders.empty()) << path << " imports " << ::testing::PrintToString(offenders);
  // tcflow itself talks netlink: socket() must be among its imports.
  if (std::getenv("TCFLOW_BINARY") == nullptr) {
    EXPECT_EQ(imports.count("socket"), 1u);
  }
}

TEST(NoExecTest, ClassifierCatchesTheFamily) {
  for (const char* name : {"execve", "execvp", "execlp", "system", "popen", "posix_spawn",
                           "posix_spawnp", "vfork", "fexecve"}) {
    EXPECT_TRUE(StartsAnotherProgram(name)) << name;
  }
  for (const char* name : {"socket", "setns", "fork_handler", "sendmsg", "systemd_x"}) {
    EXPECT_FALSE(StartsAnotherProgram(name)) << name;
  }
}

}  // namespace
