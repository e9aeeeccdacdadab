// Package all is the one list of data connectors. Adding a vendor is a folder plus one line here.
package all

import (
	"github.com/telltale-dev/telltale/internal/connector"
	"github.com/telltale-dev/telltale/internal/connector/box"
)

// Registry returns every connector Telltale ships. A vendor joins when it collects its activity:
// the Google Drive connector (connector/googledrive) discovers, indexes and follows drive changes
// but records no events yet, and a connection that shows Monitoring while recording nothing would
// be a blind spot that looks healthy (issue 14).
func Registry() *connector.Registry {
	return connector.NewRegistry(box.New())
}
