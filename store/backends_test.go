package store

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/keygate/keygate/store/pgtest"
)

// One PostgreSQL cluster serves the whole test binary (TestMain); each
// test gets a database of its own.
var (
	testPG    *pgtest.Cluster
	testPGErr error
	pgDirs    sync.Map // Badger dir a test named -> DSN standing for it
)

// TestMain starts the cluster, runs the tests and removes it, and the 1M
// benchmark's temporary directory.
func TestMain(m *testing.M) {
	if os.Getenv(crashDirEnv) != "" {
		// The kill -9 helper (crash_test.go) runs this binary and dies
		// by SIGKILL: a cluster of its own would outlive it.
		os.Exit(m.Run())
	}
	testPG, testPGErr = pgtest.Start()
	if testPGErr != nil {
		fmt.Fprintln(os.Stderr, "store tests: no PostgreSQL, its tests will skip (fail under CI=true):", testPGErr)
	}
	code := m.Run()
	if testPG != nil {
		testPG.Stop()
	}
	if largeStore.temp {
		os.RemoveAll(largeStore.dir)
	}
	os.Exit(code)
}

// conformance is the suite every backend passes, as Vault's
// physical.ExerciseBackend: it runs on Badger as ordinary tests and again
// on PostgreSQL under TestPostgres.
var conformance = []struct {
	name string
	fn   func(*testing.T)
}{
	{"TestSecretLifecycle", TestSecretLifecycle},
	{"TestRotationDue", TestRotationDue},
	{"TestOpenSecretZeroesBuffer", TestOpenSecretZeroesBuffer},
	{"TestPutSecretValidationWritesNothing", TestPutSecretValidationWritesNothing},
	{"TestMaxValueBytesOption", TestMaxValueBytesOption},
	{"TestSealedRecordBoundToPlace", TestSealedRecordBoundToPlace},
	{"TestStoredRecordTamperEveryByte", TestStoredRecordTamperEveryByte},
	{"TestAppSecrets", TestAppSecrets},
	{"TestAppSecretPrefixIsolation", TestAppSecretPrefixIsolation},
	{"TestKeychainLifecycle", TestKeychainLifecycle},
	{"TestCreateKeychainValidation", TestCreateKeychainValidation},
	{"TestDeleteKeychainRemovesSecretsAndGrants", TestDeleteKeychainRemovesSecretsAndGrants},
	{"TestInterruptedDeleteIsFinishedByOpen", TestInterruptedDeleteIsFinishedByOpen},
	{"TestGrantLifecycle", TestGrantLifecycle},
	{"TestGetGrantReturnsCopy", TestGetGrantReturnsCopy},
	{"TestPackageLifecycle", TestPackageLifecycle},
	{"TestPutPackageValidationWritesNothing", TestPutPackageValidationWritesNothing},
	{"TestDeletePackageRemovesAppSecretsAndGrants", TestDeletePackageRemovesAppSecretsAndGrants},
	{"TestDeletePackageManyGrants", TestDeletePackageManyGrants},
	{"TestAuditAppendQueryPrune", TestAuditAppendQueryPrune},
	{"TestAuditLimits", TestAuditLimits},
	{"TestRewrapResumesAfterCrash", TestRewrapResumesAfterCrash},
	{"TestRewrapOnline", TestRewrapOnline},
	{"TestRewrapCancelled", TestRewrapCancelled},
	{"TestSigningKeys", TestSigningKeys},
	{"TestSetKeyring", TestSetKeyring},
	{"TestRewrapOvertakenBySetKeyring", TestRewrapOvertakenBySetKeyring},
	{"TestSetKeyringRolledBack", TestSetKeyringRolledBack},
	{"TestCacheConsistentUnderConcurrency", TestCacheConsistentUnderConcurrency},
	{"TestOwnerLinks", TestOwnerLinks},
	{"TestOwnerSessions", TestOwnerSessions},
	{"TestRunExclusive", TestRunExclusive},
	{"TestCopyRoundTrip", TestCopyRoundTrip},
	{"TestBackendIterate", TestBackendIterate},
	{"TestBackendUpdateAtomic", TestBackendUpdateAtomic},
	{"TestAuditVerifyFindsTampering", TestAuditVerifyFindsTampering},
	{"TestAuditAppendRefusesABrokenHead", TestAuditAppendRefusesABrokenHead},
	{"TestAuditPruneKeepsChainVerifiable", TestAuditPruneKeepsChainVerifiable},
	{"TestAuditPruneManyBatches", TestAuditPruneManyBatches},
	{"TestAuditLegacySegments", TestAuditLegacySegments},
	{"TestAuditChainSurvivesRotation", TestAuditChainSurvivesRotation},
	{"TestAuditRewrapDoesNotLaunder", TestAuditRewrapDoesNotLaunder},
	{"TestAuditConcurrentAppendsMakeOneChain", TestAuditConcurrentAppendsMakeOneChain},
	{"TestAuditConcurrentNodesMakeOneChain", TestAuditConcurrentNodesMakeOneChain},
	{"TestAuditChainHoldsNoValue", TestAuditChainHoldsNoValue},
	{"TestKeyMaxBytesAndRotationDefault", TestKeyMaxBytesAndRotationDefault},
	{"TestWebhookDeliveriesClaimOnce", TestWebhookDeliveriesClaimOnce},
	{"TestSharedRecords", TestSharedRecords},
	{"TestDataKeyCacheFollowsKeyring", TestDataKeyCacheFollowsKeyring},
	{"TestHealth", TestHealth},
	{"TestProxyCA", TestProxyCA},
	{"TestPutProxyCAValidation", TestPutProxyCAValidation},
	{"TestProxyCANodesAgree", TestProxyCANodesAgree},
	{"TestHeldCallsTakenOnce", TestHeldCallsTakenOnce},
	{"TestShapeApprovals", TestShapeApprovals},
	{"TestHeldWithinLimit", TestHeldWithinLimit},
}

func TestPostgres(t *testing.T) {
	pgtest.Skip(t, testPGErr)
	for _, c := range conformance {
		t.Run(c.name, c.fn)
	}
}

// onPostgres reports whether t runs in the PostgreSQL pass.
func onPostgres(t testing.TB) bool { return strings.HasPrefix(t.Name(), "TestPostgres/") }

// testOptions returns the backend part of Options for t: Badger in dir
// (in memory when ""), or on PostgreSQL the database standing for dir (a
// new one when "").
func testOptions(t testing.TB, dir string) Options {
	t.Helper()
	if !onPostgres(t) {
		if dir == "" {
			return Options{InMemory: true}
		}
		return Options{Dir: dir}
	}
	return Options{Postgres: pgDatabase(t, dir)}
}

func pgDatabase(t testing.TB, dir string) string {
	t.Helper()
	pgtest.Skip(t, testPGErr)
	if dir != "" {
		if dsn, ok := pgDirs.Load(dir); ok {
			return dsn.(string)
		}
	}
	dsn, err := testPG.NewDatabase(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	if dir != "" {
		pgDirs.Store(dir, dsn)
	}
	return dsn
}

// testKeycheck returns the key check of the store t keeps in dir.
func testKeycheck(t testing.TB, dir string) keycheckStore {
	t.Helper()
	if !onPostgres(t) {
		return fileKeycheck{dir}
	}
	be, err := openPostgres(pgDatabase(t, dir), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	return pgKeycheck{be}
}
