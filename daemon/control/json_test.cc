#include "daemon/control/json.h"

#include <string>

#include "gtest/gtest.h"

namespace tcflow::control {
namespace {

TEST(JsonWriterTest, WritesNestedValuesWithCommasAndEscapes) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject()
      .Key("cmd").String("dump")
      .Key("n").Uint(18446744073709551615ull)
      .Key("neg").Int(-42)
      .Key("list").BeginArray().Int(1).Bool(true).Null().BeginObject().EndObject().EndArray()
      .Key("esc").String("a\"b\\c\n\t\x01/é")
      .Key("empty").BeginArray().EndArray()
      .Key("d").Double(0.5)
      .EndObject();
  EXPECT_EQ(out,
            R"({"cmd":"dump","n":18446744073709551615,"neg":-42,"list":[1,true,null,{}],)"
            R"("esc":"a\"b\\c\n\t\u0001/é","empty":[],"d":0.5})");
  auto v = ParseJson(out);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->GetString("esc"), "a\"b\\c\n\t\x01/é");
  EXPECT_EQ(v->GetUint("n"), 18446744073709551615ull);
  EXPECT_EQ(v->GetInt("neg"), -42);
  EXPECT_EQ(v->Serialize(), out);  // round trip keeps order and numbers' text
}

TEST(JsonParseTest, AcceptsValidDocuments) {
  struct Case {
    const char* in;
    const char* serialized;
  };
  const Case cases[] = {
      {"{}", "{}"},
      {" [ ] ", "[]"},
      {"0", "0"},
      {"-0.5e+3", "-0.5e+3"},
      {"1E2", "1E2"},
      {"\"\\u00e9\\ud83d\\ude00\"", "\"é😀\""},
      {"\"\\/\\b\\f\\r\"", "\"/\\b\\f\\r\""},
      {"{\"a\":{\"b\":[1,2,{\"c\":null}]}}", "{\"a\":{\"b\":[1,2,{\"c\":null}]}}"},
      {"\t\r\n{\"cmd\" : \"status\"}\n", "{\"cmd\":\"status\"}"},
      {"true", "true"},
      {"false", "false"},
      {"null", "null"},
  };
  for (const auto& c : cases) {
    auto v = ParseJson(c.in);
    ASSERT_TRUE(v.ok()) << c.in << ": " << v.status();
    EXPECT_EQ(v->Serialize(), c.serialized) << c.in;
  }
}

TEST(JsonParseTest, RejectsInvalidDocuments) {
  const char* cases[] = {
      "",        "{",          "}",           "[1,]",       "{\"a\":1,}",  "{'a':1}",
      "01",      "1.",         ".5",          "-",          "1e",          "+1",
      "tru",     "nul",        "\"abc",       "\"a\nb\"",   "\"\\x\"",     "\"\\u12\"",
      "\"\\ud800\"", "\"\\udc00\"", "{\"a\" 1}", "{1:2}",     "[1 2]",       "1 2",
      "// c\n1", "NaN",        "Infinity",    "{\"a\":1}x",
  };
  for (const char* c : cases) {
    auto v = ParseJson(c);
    EXPECT_FALSE(v.ok()) << "accepted: " << c;
    if (!v.ok()) {
      EXPECT_NE(v.status().message().find("bad JSON at byte"), std::string::npos);
    }
  }
  std::string deep(65, '[');
  deep += std::string(65, ']');
  EXPECT_FALSE(ParseJson(deep).ok());
  std::string ok_depth(60, '[');
  ok_depth += std::string(60, ']');
  EXPECT_TRUE(ParseJson(ok_depth).ok());
}

TEST(JsonValueTest, AccessorsCheckTypes) {
  auto v = ParseJson(R"({"s":"x","n":12,"neg":-3,"big":1e3,"b":false,"dup":1,"dup":2})");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->GetString("s"), "x");
  EXPECT_EQ(v->GetString("n"), std::nullopt);
  EXPECT_EQ(v->GetUint("n"), 12u);
  EXPECT_EQ(v->GetUint("neg"), std::nullopt);
  EXPECT_EQ(v->GetInt("neg"), -3);
  EXPECT_EQ(v->GetInt("big"), std::nullopt);  // not an integer literal
  EXPECT_EQ(v->Find("big")->AsDouble(), 1000.0);
  EXPECT_EQ(v->GetBool("b"), false);
  EXPECT_EQ(v->GetBool("s"), std::nullopt);
  EXPECT_EQ(v->GetInt("dup"), 2);  // the last duplicate wins
  EXPECT_EQ(v->Find("missing"), nullptr);

  JsonValue built = JsonValue::Object();
  built.Set("a", JsonValue::Int(-1));
  built.Set("list", JsonValue::Array()).Append(JsonValue::String("x"));
  built.Set("a", JsonValue::Uint(7));
  EXPECT_EQ(built.Serialize(), R"({"a":7,"list":["x"]})");
}

}  // namespace
}  // namespace tcflow::control
