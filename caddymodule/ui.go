package caddymodule

// uiRoutes registers the owners' page (issue 8).
func (h *APIHandler) uiRoutes() {}
