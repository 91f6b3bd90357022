#include "netlink/selector.h"

#include "gtest/gtest.h"

namespace tcflow::netlink {
namespace {

struct Case {
  const char* name;
  bool loopback;
  bool selected;
};

TEST(LinkSelectorTest, NamesGlobsAndExcludes) {
  LinkSelector selector;
  selector.include = {"eth0", "veth*", "wan[01]"};
  selector.exclude = {"veth-mgmt*"};
  const Case cases[] = {
      {"eth0", false, true},        {"eth1", false, false},     {"veth12", false, true},
      {"veth-mgmt0", false, false}, {"wan0", false, true},      {"wan2", false, false},
      {"lo", true, false},          {"eth0.100", false, false},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(selector.Matches(c.name, c.loopback), c.selected) << c.name;
  }
  EXPECT_FALSE(selector.IsLiteral());
}

TEST(LinkSelectorTest, AllButLoopback) {
  LinkSelector selector;
  selector.all_but_loopback = true;
  selector.exclude = {"docker*"};
  const Case cases[] = {
      {"eth0", false, true},
      {"lo", true, false},
      {"docker0", false, false},
      {"dummy7", false, true},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(selector.Matches(c.name, c.loopback), c.selected) << c.name;
  }
}

TEST(LinkSelectorTest, LoopbackOnlyWhenNamed) {
  LinkSelector selector;
  selector.all_but_loopback = true;
  selector.include = {"lo"};
  EXPECT_TRUE(selector.Matches("lo", true));
}

TEST(LinkSelectorTest, LiteralSelector) {
  LinkSelector selector;
  selector.include = {"eth0", "eth1"};
  EXPECT_TRUE(selector.IsLiteral());
  EXPECT_FALSE(selector.Matches("eth2", false));
  LinkSelector empty;
  EXPECT_FALSE(empty.Matches("eth0", false));
}

}  // namespace
}  // namespace tcflow::netlink
