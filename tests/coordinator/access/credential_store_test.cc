// Users and tokens in a real state database.
#include "coordinator/access/credential_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "tests/util/sql.h"
#include "tests/util/test_util.h"

namespace orchard::coordinator {
namespace {

using orchard::testing::BreakTable;
using orchard::testing::ReadFile;
using orchard::testing::TempDir;

class CredentialStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { credentials_ = CredentialStore::Open(db_path_).value(); }

  TempDir dir_;
  std::string db_path_ = dir_ / "orchard.db";
  std::unique_ptr<CredentialStore> credentials_;
};

TEST_F(CredentialStoreTest, TokensNameTheirUserAndRole) {
  const IssuedToken alice = credentials_->AddUser("alice", false).value();
  const IssuedToken root = credentials_->AddUser("root", true).value();
  const IssuedToken worker = credentials_->IssueWorkerToken().value();
  const IssuedToken second = credentials_->IssueUserToken("alice").value();

  const Principal a = credentials_->Authenticate(alice.token).value();
  EXPECT_EQ(a.name, "alice");
  EXPECT_TRUE(a.is_user());
  EXPECT_FALSE(a.is_admin());
  EXPECT_TRUE(credentials_->Authenticate(root.token)->is_admin());
  EXPECT_EQ(credentials_->Authenticate(worker.token)->role, Principal::Role::kWorker);
  EXPECT_FALSE(credentials_->Authenticate(worker.token)->is_user());
  EXPECT_EQ(credentials_->Authenticate(second.token)->name, "alice") << "a second token works beside the first";
  EXPECT_EQ(credentials_->Authenticate(alice.token)->name, "alice");
}

TEST_F(CredentialStoreTest, UnknownAndRevokedTokensAreUnauthenticatedWithoutQuotingThem) {
  const IssuedToken alice = credentials_->AddUser("alice", false).value();
  const IssuedToken other = credentials_->IssueUserToken("alice").value();
  for (const std::string& token : {std::string("orc_u_0000"), std::string(""), alice.token + "0"}) {
    auto who = credentials_->Authenticate(token);
    ASSERT_FALSE(who.ok());
    EXPECT_EQ(who.status().code(), StatusCode::kUnauthenticated);
  }
  ASSERT_TRUE(credentials_->Revoke(alice.id).ok());
  auto revoked = credentials_->Authenticate(alice.token);
  ASSERT_FALSE(revoked.ok());
  EXPECT_EQ(revoked.status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ(revoked.status().message().find(alice.token), std::string::npos);
  EXPECT_TRUE(credentials_->Authenticate(other.token).ok()) << "revoking one token leaves the user's others";
  EXPECT_TRUE(credentials_->Revoke(alice.id).ok()) << "revoking twice is fine";
  EXPECT_EQ(credentials_->Revoke(999).code(), StatusCode::kNotFound);
}

TEST_F(CredentialStoreTest, BadOrTakenNamesAndUnknownUsersAreRefused) {
  ASSERT_TRUE(credentials_->AddUser("alice", false).ok());
  EXPECT_EQ(credentials_->AddUser("alice", true).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(credentials_->AddUser("a b", false).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(credentials_->AddUser("", false).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(credentials_->AddUser(kLocalUser, false).status().code(), StatusCode::kInvalidArgument)
      << "'local' is the user of a coordinator without authentication";
  EXPECT_EQ(credentials_->IssueUserToken("bob").status().code(), StatusCode::kNotFound);
  ASSERT_EQ(credentials_->ListUsers().value().size(), 1u);
  EXPECT_EQ(credentials_->ListUsers().value()[0].active_tokens, 1);
}

TEST_F(CredentialStoreTest, OnlyHashesAreStored) {
  const IssuedToken alice = credentials_->AddUser("alice", false).value();
  const IssuedToken worker = credentials_->IssueWorkerToken().value();
  credentials_.reset();  // close, so everything is in the files
  std::string bytes;
  for (const char* suffix : {"", "-wal"}) bytes += ReadFile(db_path_ + suffix);
  ASSERT_NE(bytes.find(HashToken(alice.token)), std::string::npos) << "the hash should be there";
  EXPECT_EQ(bytes.find(alice.token.substr(6)), std::string::npos) << "the user's token itself must not be";
  EXPECT_EQ(bytes.find(worker.token.substr(6)), std::string::npos) << "the worker token itself must not be";
}

TEST_F(CredentialStoreTest, ChangesThroughAnotherConnectionTakeEffectAtOnce) {
  // The admin commands write through their own connection while the coordinator runs.
  auto admin = CredentialStore::Open(db_path_).value();
  const IssuedToken bob = admin->AddUser("bob", false).value();
  EXPECT_EQ(credentials_->Authenticate(bob.token)->name, "bob");
  ASSERT_TRUE(admin->Revoke(bob.id).ok());
  EXPECT_FALSE(credentials_->Authenticate(bob.token).ok());
}

// A database error is not a bad token: the caller hears that the coordinator failed, and the
// listings fail instead of showing nobody.
TEST_F(CredentialStoreTest, ADatabaseErrorIsNeverReadAsAnUnknownToken) {
  const IssuedToken alice = credentials_->AddUser("alice", false).value();
  BreakTable(db_path_, "tokens");
  const auto caller = credentials_->Authenticate(alice.token);
  EXPECT_EQ(caller.status().code(), StatusCode::kInternal) << caller.status().message();
  EXPECT_NE(caller.status().message().find("no such table: tokens"), std::string::npos) << caller.status().message();
  EXPECT_EQ(credentials_->ListTokens().status().code(), StatusCode::kInternal);
  EXPECT_EQ(credentials_->ListUsers().status().code(), StatusCode::kInternal);
  EXPECT_EQ(credentials_->Revoke(1).code(), StatusCode::kInternal);
}

}  // namespace
}  // namespace orchard::coordinator
