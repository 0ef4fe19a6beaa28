package server

import (
	_ "embed"
	"net/http"

	"github.com/gin-gonic/gin"
)

// openAPISpec is the hand-written OpenAPI 3 description of the whole v1 API. A test holds it
// to the router: every route is described and every described operation is routed.
//
//go:embed openapi.json
var openAPISpec []byte

// OpenAPISpec returns the embedded OpenAPI document (tests validate it).
func OpenAPISpec() []byte { return openAPISpec }

// openAPI serves the spec, to anyone: it describes the API, not its data.
func (s *Server) openAPI(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Data(http.StatusOK, "application/json; charset=utf-8", openAPISpec)
}
