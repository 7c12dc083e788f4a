package dag

import "fmt"

// Node is one node instance as the workflow sees it.
type Node struct {
	ID     int64  `json:"id"` // instance id
	Name   string `json:"name"`
	Status Status `json:"status"`
	// Begin is when the node started running (or, before that, waiting);
	// Finish when it finished. Unix seconds, 0 = not yet.
	Begin        int64  `json:"begin,omitempty"`
	Finish       int64  `json:"finish,omitempty"`
	ErrorMessage string `json:"errorMessage,omitempty"`
}

// Label names the node in messages: its name, or its instance id when it has
// none.
func (n Node) Label() string {
	if n.Name != "" {
		return n.Name
	}
	return fmt.Sprintf("instance %d", n.ID)
}

// ErrorOmitted is the error message of a node whose message was left out
// of a search to keep the node list within its payload bound.
const ErrorOmitted = "…"
