// Bearer tokens and who they name: generation, hashing and comparison. Pure functions, no I/O
// beyond the system's random source; thread-safe.
//
//   const std::string token = NewToken(TokenKind::kUser);   // "orc_u_" + 64 hex digits, shown once
//   store.Save(HashToken(token));                             // only the SHA-256 is ever stored
//   if (TokensEqual(HashToken(presented), saved)) ...         // constant time
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace orchard::coordinator {

// The user every call acts as when authentication is off (the loopback default): an admin.
inline constexpr char kLocalUser[] = "local";

enum class TokenKind { kUser, kWorker, kAttempt };

// Who made a call, as its bearer token says.
struct Principal {
  enum class Role { kUser, kAdmin, kWorker };
  Role role = Role::kUser;
  std::string name;  // the user's name; "worker" for worker tokens

  bool is_user() const { return role == Role::kUser || role == Role::kAdmin; }
  bool is_admin() const { return role == Role::kAdmin; }
};

// A new random token of 256 bits, as "orc_<u|w|a>_" followed by 64 hex digits; the prefix tells a
// person (and a secret scanner) what the token is for.
std::string NewToken(TokenKind kind);

// SHA-256 of the token, as 64 lowercase hex digits: what the state database keeps.
std::string HashToken(std::string_view token);

// Equality that takes the same time wherever the strings first differ.
bool TokensEqual(std::string_view a, std::string_view b);

// The token of an HTTP "authorization" header value "Bearer TOKEN" (scheme case-insensitive);
// nullopt for anything else.
std::optional<std::string> BearerToken(std::string_view authorization);

}  // namespace orchard::coordinator
