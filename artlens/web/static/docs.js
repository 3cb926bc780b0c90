// Starts Swagger UI on /docs (a file, not an inline script: the page's Content-Security-Policy allows no inline code).
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true,
                                 presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout" });
});
