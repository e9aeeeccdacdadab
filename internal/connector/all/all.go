// Package all is the one list of data connectors. Adding a vendor is a folder plus one line here.
package all

import (
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
	"github.com/telltale-dev/telltale/internal/connector/gmail"
	"github.com/telltale-dev/telltale/internal/connector/googledrive"
	"github.com/telltale-dev/telltale/internal/connector/m365mail"
	"github.com/telltale-dev/telltale/internal/connector/onedrive"
)

// Registry returns every connector Telltale ships. A vendor joins when it collects its activity,
// passes the conformance suite and survives kill -9 of the node: a connection that shows
// Monitoring while recording nothing would be a blind spot that looks healthy.
func Registry() *connector.Registry {
	return connector.NewRegistry(box.New(), googledrive.New(), gmail.New(), onedrive.New(), m365mail.New())
}
