// Package all is the one list of data connectors. Adding a vendor is a folder plus one line here.
package all

import (
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/connector/gmail"
	"github.com/telltale-dev/telltale/internal/connector/googledrive"
)

// Registry returns every connector Telltale ships. A vendor joins when it collects its activity
// and passes the conformance suite: OneDrive and Microsoft 365 mail are being built (issue 15),
// and a connection that shows Monitoring while recording nothing would be a blind spot that looks
// healthy.
func Registry() *connector.Registry {
	return connector.NewRegistry(box.New(), googledrive.New(), gmail.New())
}
