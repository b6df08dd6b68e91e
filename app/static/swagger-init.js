// Swagger UI start-up, outside the page so the Content-Security-Policy needs no inline script.
(function () {
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // Keeping the bearer token in localStorage survives the tab; only development opts in.
    persistAuthorization: el.dataset.persistAuthorization === "true",
  });
})();
