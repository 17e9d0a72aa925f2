#pragma once
// A strict reader of the XML our pictures write, for tests: it parses the document back and says where it is not
// well formed (an unclosed or mismatched tag, a raw '<' or '&' in text or an attribute, an unknown entity, a
// duplicate attribute, a control character, text outside the root), counts the elements by name and keeps the
// text of every <text> element, unescaped. Not a general XML parser: no DTDs, CDATA or namespaces.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace apgen::testing {

struct xml_report {
  bool well_formed = false;
  std::string error;                           ///< what was wrong, with its byte offset
  std::map<std::string, std::size_t> elements; ///< element name -> count
  std::vector<std::string> texts;              ///< the content of each <text>, entities decoded
  std::string root;
  /// Every value of attribute `name` on elements named `element`, in document order.
  std::vector<std::pair<std::string, std::string>> attributes; ///< (element/attribute, value) pairs
  [[nodiscard]] std::size_t count(const std::string& name) const {
    auto it = elements.find(name);
    return it == elements.end() ? 0 : it->second;
  }
  [[nodiscard]] bool has_text(std::string_view s) const {
    for (const auto& t : texts)
      if (t.find(s) != std::string::npos) return true;
    return false;
  }
};

inline xml_report check_xml(std::string_view doc) {
  xml_report rep;
  std::size_t i = 0;
  auto fail = [&](const std::string& why) {
    rep.well_formed = false;
    rep.error = why + " at byte " + std::to_string(i);
    return rep;
  };
  auto name_char = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == ':' || c == '.';
  };
  // Decodes character data up to `end`; false on a raw '<', a bad entity or a control character.
  auto decode = [&](std::string_view s, std::string& out) {
    for (std::size_t k = 0; k < s.size(); ++k) {
      const auto c = static_cast<unsigned char>(s[k]);
      if (c == '<') return false;
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      if (c != '&') {
        out += static_cast<char>(c);
        continue;
      }
      const std::size_t semi = s.find(';', k);
      if (semi == std::string_view::npos) return false;
      const std::string_view ent = s.substr(k + 1, semi - k - 1);
      if (ent == "amp")
        out += '&';
      else if (ent == "lt")
        out += '<';
      else if (ent == "gt")
        out += '>';
      else if (ent == "quot")
        out += '"';
      else if (ent == "apos")
        out += '\'';
      else if (ent.size() > 1 && ent[0] == '#')
        out += '?';
      else
        return false;
      k = semi;
    }
    return true;
  };
  auto skip_space = [&] {
    while (i < doc.size() && (doc[i] == ' ' || doc[i] == '\n' || doc[i] == '\t' || doc[i] == '\r')) ++i;
  };
  if (doc.substr(0, 5) == "<?xml") {
    const std::size_t end = doc.find("?>");
    if (end == std::string_view::npos) return fail("unclosed XML declaration");
    i = end + 2;
  }
  std::vector<std::string> open;
  bool root_closed = false;
  std::string text_content;
  bool in_text = false;
  while (i < doc.size()) {
    if (doc[i] != '<') {
      const std::size_t next = doc.find('<', i);
      const std::string_view chunk = doc.substr(i, next == std::string_view::npos ? doc.size() - i : next - i);
      std::string decoded;
      if (!decode(chunk, decoded)) return fail("bad character data");
      if (open.empty() && decoded.find_first_not_of(" \n\t\r") != std::string::npos)
        return fail("text outside the root element");
      if (in_text) text_content += decoded;
      i += chunk.size();
      continue;
    }
    if (doc.substr(i, 2) == "</") {
      i += 2;
      const std::size_t start = i;
      while (i < doc.size() && name_char(doc[i])) ++i;
      const std::string name(doc.substr(start, i - start));
      skip_space();
      if (i >= doc.size() || doc[i] != '>') return fail("malformed closing tag");
      ++i;
      if (open.empty() || open.back() != name) return fail("closing tag </" + name + "> does not match");
      open.pop_back();
      if (name == "text" && in_text) {
        rep.texts.push_back(text_content);
        in_text = false;
      }
      if (open.empty()) root_closed = true;
      continue;
    }
    ++i;
    if (root_closed) return fail("a second root element");
    const std::size_t start = i;
    while (i < doc.size() && name_char(doc[i])) ++i;
    const std::string name(doc.substr(start, i - start));
    if (name.empty()) return fail("a tag without a name");
    if (open.empty()) rep.root = name;
    std::vector<std::string> seen;
    for (;;) {
      skip_space();
      if (i >= doc.size()) return fail("unclosed tag <" + name + ">");
      if (doc[i] == '/' || doc[i] == '>') break;
      const std::size_t a0 = i;
      while (i < doc.size() && name_char(doc[i])) ++i;
      const std::string attr(doc.substr(a0, i - a0));
      if (attr.empty()) return fail("bad attribute in <" + name + ">");
      for (const auto& s : seen)
        if (s == attr) return fail("duplicate attribute " + attr);
      seen.push_back(attr);
      if (i >= doc.size() || doc[i] != '=') return fail("attribute " + attr + " without a value");
      ++i;
      if (i >= doc.size() || (doc[i] != '"' && doc[i] != '\'')) return fail("unquoted attribute " + attr);
      const char q = doc[i++];
      const std::size_t close = doc.find(q, i);
      if (close == std::string_view::npos) return fail("unterminated attribute " + attr);
      std::string value;
      if (!decode(doc.substr(i, close - i), value)) return fail("bad attribute value of " + attr);
      rep.attributes.emplace_back(name + "/" + attr, value);
      i = close + 1;
    }
    ++rep.elements[name];
    if (doc[i] == '/') {
      if (i + 1 >= doc.size() || doc[i + 1] != '>') return fail("malformed empty tag");
      i += 2;
      if (open.empty()) root_closed = true;
      continue;
    }
    ++i;
    open.push_back(name);
    if (name == "text") {
      in_text = true;
      text_content.clear();
    }
  }
  if (!open.empty()) return fail("unclosed <" + open.back() + ">");
  if (!root_closed) return fail("no root element");
  rep.well_formed = true;
  return rep;
}

} // namespace apgen::testing
