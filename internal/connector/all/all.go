// Package all is the one list of data connectors. Adding a vendor is a folder plus one line here.
package all

import (
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/connector/googledrive"
)

// Registry returns every connector Telltale ships.
func Registry() *connector.Registry {
	return connector.NewRegistry(box.New(), googledrive.New())
}
