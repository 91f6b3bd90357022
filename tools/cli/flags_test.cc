#include "tools/cli/flags.h"

#include "gtest/gtest.h"

namespace tcflow::cli {
namespace {

struct Parsed {
  std::vector<std::string> interfaces;
  std::string netns;
  int64_t count = 0;
  bool all = false;
};

FlagParser MakeParser(Parsed& p) {
  FlagParser flags("flowctl meter attach", "Attaches.");
  flags.AddStringList("interface", 'i', &p.interfaces, "IFACE", "interface");
  flags.AddString("netns", 0, &p.netns, "NS", "namespace");
  flags.AddInt("count", 'n', &p.count, "N", "count");
  flags.AddBool("all", 0, &p.all, "all of them");
  return flags;
}

TEST(FlagParserTest, ParsesEveryFlagForm) {
  Parsed p;
  FlagParser flags = MakeParser(p);
  ASSERT_TRUE(flags.Parse({"-i", "eth0", "--interface=eth1", "--netns", "rt", "-n", "7",
                           "--all", "extra", "--", "-x"})
                  .ok());
  EXPECT_EQ(p.interfaces, (std::vector<std::string>{"eth0", "eth1"}));
  EXPECT_EQ(p.netns, "rt");
  EXPECT_EQ(p.count, 7);
  EXPECT_TRUE(p.all);
  EXPECT_EQ(flags.positional(), (std::vector<std::string>{"extra", "-x"}));
  EXPECT_FALSE(flags.help_requested());
}

TEST(FlagParserTest, RejectsUnknownFlagsMissingValuesAndBadNumbers) {
  Parsed p;
  FlagParser flags = MakeParser(p);
  EXPECT_EQ(flags.Parse({"--bogus"}).message(),
            "unknown option '--bogus' (see flowctl meter attach --help)");
  EXPECT_EQ(flags.Parse({"-i"}).message(), "option '-i' needs a value (IFACE)");
  EXPECT_EQ(flags.Parse({"-n", "x1"}).message(), "--count: 'x1' is not a whole number");
  EXPECT_EQ(flags.Parse({"--all=yes"}).message(), "--all takes no value");
}

TEST(FlagParserTest, HelpListsEveryFlag) {
  Parsed p;
  FlagParser flags = MakeParser(p);
  ASSERT_TRUE(flags.Parse({"--help"}).ok());
  EXPECT_TRUE(flags.help_requested());
  std::string help = flags.Help();
  for (const char* expected : {"usage: flowctl meter attach", "-i, --interface IFACE",
                               "--netns NS", "-n, --count N", "--all", "--help"}) {
    EXPECT_NE(help.find(expected), std::string::npos) << expected << "\n" << help;
  }
}

}  // namespace
}  // namespace tcflow::cli
