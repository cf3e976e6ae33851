package flow

import (
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/apiguard/apiguard/shared/config"
	"github.com/apiguard/apiguard/shared/record"
)

// OpenTables builds the Table Storage store the settings name: a connection string
// (Azurite locally) or the table endpoint reached with managed identity. No I/O: tables
// are created on first use.
func OpenTables(cfg *config.Config) (*record.Store, error) {
	if err := cfg.RequireTables(); err != nil {
		return nil, err
	}
	opts := record.Options{ConnectionString: cfg.TablesConnection, TablePrefix: cfg.TablePrefix, CallTimeout: cfg.CallTimeout}
	if cfg.TablesURL != "" {
		cred, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("managed identity for Table Storage: %w", err)
		}
		opts.ServiceURL, opts.Credential = cfg.TablesURL, cred
	}
	store, err := record.New(opts)
	if err != nil {
		return nil, fmt.Errorf("table store: %w", err)
	}
	return store, nil
}
